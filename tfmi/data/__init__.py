"""tf.data pipelines, built by name from a config's ``data`` section.

``DATASETS`` maps ``config.data.name`` to its builder; every other field of
``config.data`` is a keyword argument of the builder, so ``build_dataset(config.data,
batch_size, seed, start_step)`` is ``DATASETS[name](batch_size, seed=seed,
start_step=start_step, **fields)``. Defaults live in the builders' signatures only. To
add a dataset: a builder ``(batch_size, *, ..., seed=0, start_step=0)`` returning the
endless dataset of global batches, and one line in ``DATASETS``.
"""

from tfmi.config_utils import as_dict, field_names, refuse_unknown_fields
from tfmi.data import (
    cifar_halves,
    cifar_views,
    demi_synthetic,
    dialogue,
    gaussians,
    imagenet_views,
    mnist_halves,
    synthetic_views,
)
from tfmi.errors import InputError

__all__ = ["build_dataset", "dataset_fields", "DATASETS"]

DATASETS = {
    "gaussian_staircase": gaussians.staircase_dataset,
    "demi_gaussian": demi_synthetic.demi_gaussian_dataset,
    "noniid_gaussian": gaussians.shared_offset_dataset,
    "mnist_halves": mnist_halves.mnist_halves_dataset,
    "cifar10_halves": cifar_halves.cifar10_halves_dataset,
    "cifar10_views": cifar_views.cifar10_views_dataset,
    "imagenet_views": imagenet_views.imagenet_views_dataset,
    "dialogue": dialogue.dialogue_batches,
    "synthetic_views": synthetic_views.synthetic_views_dataset,
}

# The builders that take ``**fields`` pass them on to this function.
_FIELDS_PASSED_ON = {"dialogue": dialogue.dialogue_examples}
# Builder arguments that build_dataset sets: not config fields.
_RUN_ARGUMENTS = ("batch_size", "seed", "start_step")


def dataset_fields(name):
    """The fields that ``config.data`` may set for the dataset ``name``."""
    names = field_names(DATASETS[name])
    if name in _FIELDS_PASSED_ON:
        names += field_names(_FIELDS_PASSED_ON[name])
    return [field for field in names if field not in _RUN_ARGUMENTS]


def build_dataset(config, batch_size, seed=0, start_step=0):
    """The endless training dataset of global batches that ``config.name`` names:
    ``DATASETS[name](batch_size, seed=seed, start_step=start_step, **fields)``.

    ``start_step`` lets a resumed run continue the stream where it stopped. Raises
    InputError for an unknown dataset or field.
    """
    fields = as_dict(config)
    name = fields.pop("name", None)
    if name not in DATASETS:
        raise InputError(f"Unknown dataset {name!r} (config.data.name); choose one of {sorted(DATASETS)}.")
    refuse_unknown_fields(fields, dataset_fields(name), f"config.data of the {name!r} dataset")
    return DATASETS[name](batch_size, seed=seed, start_step=start_step, **fields)
