"""tf.data pipelines, built by name from a config's ``data`` section."""

import functools

from tfmi.data import cifar_halves, demi_synthetic, dialogue, gaussians, mnist_halves
from tfmi.data import cifar as cifar_views, imagenet as imagenet_views

__all__ = ["build_dataset", "DATASETS"]


def _gaussian_staircase(config, batch_size, seed, start_step):
    return gaussians.staircase_dataset(
        batch_size,
        dim=config.dim,
        mi_values=tuple(config.mi_values),
        steps_per_stage=config.steps_per_stage,
        cubic=config.cubic,
        seed=seed,
        start_step=start_step,
    )


@functools.lru_cache(maxsize=8)
def _demi_task(total_mi, dim, task_seed):
    return demi_synthetic.make_task(total_mi, dim=dim, seed=task_seed)


def _demi_gaussian(config, batch_size, seed, start_step):
    task = _demi_task(float(config.total_mi), config.dim, config.task_seed)
    return demi_synthetic.demi_dataset(
        task, batch_size, batch_size - 1, seed=seed, start_step=start_step
    )


def _noniid_gaussian(config, batch_size, seed, start_step):
    return gaussians.shared_offset_dataset(
        batch_size,
        sigma_z=tuple(tuple(row) for row in config.get("sigma_z", gaussians.NONIID_SIGMA_Z)),
        sigma_eps=tuple(tuple(row) for row in config.get("sigma_eps", gaussians.NONIID_SIGMA_EPS)),
        iid=config.get("iid", False),
        seed=seed,
        start_step=start_step,
    )


def _mnist_halves(config, batch_size, seed, start_step):
    return mnist_halves.mnist_halves_dataset(
        batch_size,
        source=config.get("source", "auto"),
        noise_std=config.get("noise_std", 0.0),
        data_dir=config.get("data_dir") or None,
        download=config.get("download", True),
        seed=seed,
        start_step=start_step,
    )


def _cifar10_halves(config, batch_size, seed, start_step):
    return cifar_halves.cifar10_halves_dataset(
        batch_size,
        half_rows=config.get("half_rows", cifar_halves.HALF_ROWS),
        noise_std=config.get("noise_std", 0.0),
        data_dir=config.get("data_dir") or None,
        download=config.get("download", True),
        seed=seed,
        start_step=start_step,
    )


def _synthetic_views(config, batch_size, seed, start_step):
    from tfmi.data import synthetic_views  # random images: smoke runs, tests, benchmarks

    return synthetic_views.synthetic_views_dataset(
        batch_size,
        image_size=config.get("image_size", 32),
        sub_size=config.get("sub_size", 0),
        num_classes=config.get("num_classes", 10),
        seed=seed,
        start_step=start_step,
    )


def _dialogue(config, batch_size, seed, start_step):
    """Past / future / subview views of dialogues (Sordoni et al. 2021, Sec. 5.3); see
    ``dialogue.examples_from_config`` and ``dialogue.dialogue_dataset_from_config`` for
    the fields (source, path, split, max_past, max_future, max_utterance_tokens,
    max_past_tokens, max_future_tokens, negatives_path, num_negatives, ...)."""
    return dialogue.dialogue_dataset_from_config(config, batch_size, seed, start_step)


def _cifar10_views(config, batch_size, seed, start_step):
    return cifar_views.cifar10_views_dataset(
        batch_size,
        subview=config.get("subview") or None,
        image_size=config.get("image_size", 32),
        color_strength=config.get("color_strength", 0.5),
        subview_size=config.get("subview_size") or None,
        cutout_size=config.get("cutout_size") or None,
        data_dir=config.get("data_dir") or None,
        download=config.get("download", True),
        seed=seed,
        start_step=start_step,
    )


def _imagenet_views(config, batch_size, seed, start_step):
    return imagenet_views.imagenet_views_dataset(
        batch_size,
        dataset=config.get("dataset", "imagenet2012"),
        image_size=config.get("image_size", 224),
        subview=config.get("subview") or None,
        subview_size=config.get("subview_size", 96),
        cutout_size=config.get("cutout_size") or None,
        randaugment_magnitude=config.get("randaugment_magnitude", 10.0),
        jigsaw=config.get("jigsaw", False),
        data_dir=config.get("data_dir") or None,
        manual_dir=config.get("manual_dir") or None,
        download=config.get("download", False),
        seed=seed,
        start_step=start_step,
    )


DATASETS = {
    "gaussian_staircase": _gaussian_staircase,
    "demi_gaussian": _demi_gaussian,
    "noniid_gaussian": _noniid_gaussian,
    "mnist_halves": _mnist_halves,
    "cifar10_halves": _cifar10_halves,
    "cifar10_views": _cifar10_views,
    "imagenet_views": _imagenet_views,
    "dialogue": _dialogue,
    "synthetic_views": _synthetic_views,
}


def build_dataset(config, batch_size, seed=0, start_step=0):
    """The endless training dataset of global batches that ``config.name`` names.

    ``start_step`` lets a resumed run continue the stream where it stopped.
    """
    if config.name not in DATASETS:
        raise ValueError(f"Unknown dataset {config.name!r}; choose one of {sorted(DATASETS)}.")
    return DATASETS[config.name](config, batch_size, seed, start_step)
