"""tf.data pipelines, built by name from a config's ``data`` section."""

import functools

from tfmi.data import cifar_halves, demi_synthetic, gaussians, mnist_halves

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
        seed=seed,
        start_step=start_step,
    )


def _cifar10_halves(config, batch_size, seed, start_step):
    return cifar_halves.cifar10_halves_dataset(
        batch_size,
        half_rows=config.get("half_rows", cifar_halves.HALF_ROWS),
        noise_std=config.get("noise_std", 0.0),
        data_dir=config.get("data_dir") or None,
        seed=seed,
        start_step=start_step,
    )


DATASETS = {
    "gaussian_staircase": _gaussian_staircase,
    "demi_gaussian": _demi_gaussian,
    "noniid_gaussian": _noniid_gaussian,
    "mnist_halves": _mnist_halves,
    "cifar10_halves": _cifar10_halves,
}


def build_dataset(config, batch_size, seed=0, start_step=0):
    """The endless training dataset of global batches that ``config.name`` names.

    ``start_step`` lets a resumed run continue the stream where it stopped.
    """
    if config.name not in DATASETS:
        raise ValueError(f"Unknown dataset {config.name!r}; choose one of {sorted(DATASETS)}.")
    return DATASETS[config.name](config, batch_size, seed, start_step)
