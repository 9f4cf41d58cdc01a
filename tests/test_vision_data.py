"""Vision inputs (DEMI Sec. 5.2): augmentations, CIFAR-10 / ImageNet view datasets,
evaluation images, the missing-data error. Data come from tfds.testing.mock_data only."""

import errno
import math
import socket
import time
from pathlib import Path

import ml_collections
import numpy as np
import pytest
import tensorflow as tf

from tfmi import reachability
from tfmi.data import augment, build_dataset, cifar_views, imagenet_views, mnist_halves, tfds_utils, views, vision_eval

tfds = pytest.importorskip("tensorflow_datasets")
PIL_Image = pytest.importorskip("PIL.Image")
from PIL import ImageEnhance, ImageOps  # noqa: E402

SEED = tf.constant([7, 11])
OTHER_SEED = tf.constant([7, 12])


@pytest.fixture(autouse=True)
def _fresh_tfds_cache():
    tfds_utils.load_images.cache_clear()
    yield
    tfds_utils.load_images.cache_clear()


def _image(height=40, width=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((height, width, 3)).astype(np.float32)


def _uint8_image(height=20, width=24, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((height, width, 3)) ** 2 * 200 + 20).astype(np.uint8)


def _numpy_batches(dataset, count):
    return [{k: v.numpy() for k, v in batch.items()} for batch in dataset.take(count)]


# ---------------------------------------------------------------------------------------
# Augmentations: determinism, shapes, ranges


OPS = {
    "simclr_view": (lambda im, s: augment.simclr_view(im, s, 32, 0.5), (32, 32, 3)),
    "infomin_view": (lambda im, s: augment.infomin_view(im, s, 32), (32, 32, 3)),
    "rand_augment": (lambda im, s: augment.rand_augment(im, s, 2, 10.0), (40, 48, 3)),
    "color_distortion": (lambda im, s: augment.color_distortion(im, s, 1.0, jitter_p=1.0), (40, 48, 3)),
    "gaussian_blur": (lambda im, s: augment.gaussian_blur(im, s), (40, 48, 3)),
    "jigsaw_patches": (lambda im, s: augment.jigsaw_patches(im, s), (9, 64, 64, 3)),
    "subview_crop": (lambda im, s: augment.subview_crop(im, s, 96), (96, 96, 3)),
    "cutout": (lambda im, s: augment.cutout(im, s, 16), (40, 48, 3)),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_augmentations_are_deterministic_in_range_and_seed_dependent(name):
    fn, shape = OPS[name]
    image = tf.constant(_image())
    first, again, other = fn(image, SEED).numpy(), fn(image, SEED).numpy(), fn(image, OTHER_SEED).numpy()
    assert first.shape == shape and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert first.min() >= 0.0 and first.max() <= 1.0


def test_augmentations_run_inside_tf_function_and_match_eager():
    image = tf.constant(_image())
    for fn in (lambda im, s: augment.rand_augment(im, s, 3), lambda im, s: augment.simclr_view(im, s, 32)):
        graph = tf.function(fn, autograph=False)
        for seed in (SEED, OTHER_SEED):
            np.testing.assert_allclose(graph(image, seed).numpy(), fn(image, seed).numpy(), atol=1e-5)


def test_bad_image_gets_a_clear_error():
    with pytest.raises(ValueError, match="float32"):
        augment.random_resized_crop(tf.zeros([8, 8, 3], tf.uint8), SEED, 4)
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        augment.cutout(tf.zeros([2, 8, 8, 3]), SEED, 4)
    with pytest.raises(ValueError, match="Unknown RandAugment"):
        augment.rand_augment(tf.zeros([8, 8, 3]), SEED, ops=["Blur"])


# ---------------------------------------------------------------------------------------
# Crops and subviews


def test_crop_boxes_follow_torchvision_scale_and_ratio():
    """The subview crop's area fraction lies in (0.05, 0.14) up to the rounding of w, h."""
    fractions, ratios = [], []
    for i in range(300):
        top, left, h, w = (int(v) for v in augment.sample_crop_box(tf.constant([i, 3]), 224, 224, (0.05, 0.14)))
        assert 0 <= top and top + h <= 224 and 0 <= left and left + w <= 224
        fractions.append(h * w / 224**2)
        ratios.append(w / h)
    fractions = np.array(fractions)
    # |w - sqrt(a r)| <= 1/2 and |h - sqrt(a / r)| <= 1/2: relative area error <= 1/sqrt(0.05*224^2/(4/3)).
    slack = 1.0 / (224 * math.sqrt(0.05 * 3 / 4))
    assert fractions.min() >= 0.05 * (1 - slack) and fractions.max() <= 0.14 * (1 + slack)
    assert fractions.min() < 0.06 and fractions.max() > 0.13  # the whole range is used
    assert min(ratios) >= 0.75 * (1 - 0.05) and max(ratios) <= 4 / 3 * (1 + 0.05)


def test_subview_crop_is_a_resized_crop_of_x():
    """On an image whose channels are its row and column coordinates, the crop shows
    the coordinates of one box whose area is 5% to 14% of the image."""
    size = 224
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    coords = np.stack([rows / (size - 1), cols / (size - 1), np.zeros_like(rows, float)], -1).astype(np.float32)
    for i in range(20):
        seed = tf.constant([i, 5])
        crop = augment.subview_crop(tf.constant(coords), seed, 96).numpy()
        top, left, h, w = (int(v) for v in augment.sample_crop_box(seed, size, size, (0.05, 0.14)))
        assert crop.shape == (96, 96, 3)
        row_span = (crop[..., 0].max() - crop[..., 0].min()) * (size - 1) + 1
        col_span = (crop[..., 1].max() - crop[..., 1].min()) * (size - 1) + 1
        assert crop[..., 0].min() * (size - 1) >= top - 1e-3 and crop[..., 0].max() * (size - 1) <= top + h - 1 + 1e-3
        assert crop[..., 1].min() * (size - 1) >= left - 1e-3 and crop[..., 1].max() * (size - 1) <= left + w - 1 + 1e-3
        assert 0.05 * 0.9 < row_span * col_span / size**2 < 0.14 * 1.05


def test_cutout_zeroes_one_square_and_keeps_the_rest():
    image = _image(40, 48) * 0.9 + 0.05  # strictly positive
    for i in range(10):
        out = augment.cutout(tf.constant(image), tf.constant([i, 1]), 10).numpy()
        zero = np.all(out == 0.0, axis=-1)
        np.testing.assert_array_equal(out[~zero], image[~zero])
        rows, cols = np.nonzero(zero)
        assert 0 < zero.sum() <= 100
        # one axis-aligned rectangle, 10 x 10 unless clipped at the border
        assert zero.sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        if 0 < rows.min() and rows.max() < 39 and 0 < cols.min() and cols.max() < 47:
            assert zero.sum() == 100


def test_jigsaw_patches_are_a_shuffle_of_the_grid_patches():
    image = tf.constant(_image(300, 280))
    ordered = augment.jigsaw_patches(image, SEED, shuffle=False).numpy()
    shuffled = augment.jigsaw_patches(image, SEED).numpy()
    keys = lambda patches: sorted(p.tobytes() for p in patches)
    assert keys(ordered) == keys(shuffled)
    assert not np.array_equal(ordered, shuffled)
    tiled = augment.tile_patches(tf.constant(ordered)).numpy()
    assert tiled.shape == (192, 192, 3)
    np.testing.assert_array_equal(tiled[64:128, 128:192], ordered[5])  # row 1, column 2


def test_center_crop_resize_keeps_the_centre():
    wide = np.zeros((100, 200, 3), np.float32)
    wide[:, 50:150] = 1.0  # the central square
    out = augment.center_crop_resize(tf.constant(wide), 32).numpy()
    assert out.shape == (32, 32, 3)
    np.testing.assert_allclose(out, 1.0)
    square = augment.center_crop_resize(tf.constant(_image(96, 96)), 32).numpy()
    assert square.shape == (32, 32, 3)


# ---------------------------------------------------------------------------------------
# Colour and RandAugment ops against PIL (what torchvision / InfoMin run)


def _pil_compare(ours, reference, atol_levels):
    diff = np.abs(ours.numpy() * 255.0 - np.asarray(reference, np.float32))
    assert diff.max() <= atol_levels, diff.max()


def test_rand_augment_pixel_ops_match_pil():
    u8 = _uint8_image()
    image, pil = tf.constant(u8.astype(np.float32) / 255.0), PIL_Image.fromarray(u8)
    level = lambda m: tf.constant(float(m))
    plus = tf.constant(1.0)
    ops = augment.RAND_AUGMENT_OPS
    _pil_compare(ops["Equalize"](image, level(10), plus), ImageOps.equalize(pil), 1e-3)
    _pil_compare(ops["AutoContrast"](image, level(10), plus), ImageOps.autocontrast(pil), 1.0)
    _pil_compare(ops["Posterize"](image, level(6), plus), ImageOps.posterize(pil, 2), 1e-3)
    _pil_compare(ops["Solarize"](image, level(5), plus), ImageOps.solarize(pil, 128), 1e-3)
    lut = [min(255, i + 55) if i < 128 else i for i in range(256)] * 3
    _pil_compare(ops["SolarizeAdd"](image, level(5), plus), pil.point(lut), 1e-3)
    _pil_compare(ops["Invert"](image, level(5), plus), ImageOps.invert(pil), 1e-3)
    factor = 5 / 10 * 1.8 + 0.1
    _pil_compare(ops["Color"](image, level(5), plus), ImageEnhance.Color(pil).enhance(factor), 1.0)
    _pil_compare(ops["Contrast"](image, level(5), plus), ImageEnhance.Contrast(pil).enhance(factor), 1.0)
    _pil_compare(ops["Brightness"](image, level(5), plus), ImageEnhance.Brightness(pil).enhance(factor), 1.0)
    _pil_compare(ops["Sharpness"](image, level(2), plus), ImageEnhance.Sharpness(pil).enhance(0.46), 1.5)
    _pil_compare(augment.to_grayscale(image)[..., :1], np.asarray(pil.convert("L"))[..., None], 1.0)


def test_rand_augment_geometric_ops_match_pil():
    u8 = _uint8_image()
    image, pil = tf.constant(u8.astype(np.float32) / 255.0), PIL_Image.fromarray(u8)
    fill = (124, 116, 104)  # PyContrast's img_mean
    ops = augment.RAND_AUGMENT_OPS
    # TranslateXRel at level m moves by 0.45 * m / 10 * W pixels: 6 px for W = 24.
    shifted = ops["TranslateXRel"](image, tf.constant(10 * 6 / (0.45 * 24)), tf.constant(1.0))
    _pil_compare(shifted, pil.transform(pil.size, PIL_Image.AFFINE, (1, 0, 6, 0, 1, 0), fillcolor=fill), 0.01)
    shifted = ops["TranslateYRel"](image, tf.constant(10 * 5 / (0.45 * 20)), tf.constant(-1.0))
    _pil_compare(shifted, pil.transform(pil.size, PIL_Image.AFFINE, (1, 0, 0, 0, 1, -5), fillcolor=fill), 0.01)
    # Shear and rotation on a smooth image, away from the borders PIL and TF fill differently.
    ramp = (np.linspace(0, 1, 40)[None, :, None] * np.linspace(0, 1, 40)[:, None, None] * 255 * np.ones(3))
    ramp = ramp.astype(np.uint8)
    smooth, smooth_pil = tf.constant(ramp.astype(np.float32) / 255.0), PIL_Image.fromarray(ramp)
    rotated = ops["Rotate"](smooth, tf.constant(10.0), tf.constant(1.0)).numpy() * 255
    reference = np.asarray(smooth_pil.rotate(30, resample=PIL_Image.BILINEAR, fillcolor=fill), np.float32)
    assert np.abs(rotated - reference)[10:30, 10:30].max() <= 1.0
    sheared = ops["ShearX"](smooth, tf.constant(10.0), tf.constant(1.0)).numpy() * 255
    reference = np.asarray(
        smooth_pil.transform(smooth_pil.size, PIL_Image.AFFINE, (1, 0.3, 0, 0, 1, 0), resample=PIL_Image.BILINEAR,
                             fillcolor=fill),
        np.float32,
    )
    assert np.abs(sheared - reference)[:, :20].max() <= 1.0


def test_gaussian_blur_keeps_constants_and_smooths():
    constant = tf.fill([30, 30, 3], 0.3)
    np.testing.assert_allclose(augment.gaussian_blur(constant, SEED).numpy(), 0.3, atol=1e-6)
    noisy = tf.constant(_image(30, 30))
    assert augment.gaussian_blur(noisy, SEED).numpy().std() < noisy.numpy().std()


def test_color_distortion_strength_zero_keeps_colour_unless_grayscale():
    image = tf.constant(_image())
    for i in range(8):
        out = augment.color_distortion(image, tf.constant([i, 0]), strength=0.0).numpy()
        gray = augment.to_grayscale(image).numpy()
        assert np.allclose(out, image.numpy(), atol=1e-5) or np.allclose(out, gray, atol=1e-5)


# ---------------------------------------------------------------------------------------
# The view datasets on mock data


def _cifar_config(**fields):
    return ml_collections.ConfigDict(dict({"name": "cifar10_views", "subview": None, "image_size": 32,
                                           "color_strength": 0.5, "data_dir": "", "download": False}, **fields))


@pytest.mark.parametrize("subview,sub_shape", [(None, None), ("crop", (16, 16, 3)), ("cut", (32, 32, 3))])
def test_cifar10_views_shapes_and_values(subview, sub_shape):
    with tfds.testing.mock_data(num_examples=20):
        (batch,) = _numpy_batches(build_dataset(_cifar_config(subview=subview), 8), 1)
        labels = np.array([e["label"] for e in tfds.load("cifar10", split="train").as_numpy_iterator()])
    assert sorted(batch) == sorted(["x", "y", "label"] + (["x_sub"] if subview else []))
    assert batch["x"].shape == batch["y"].shape == (8, 32, 32, 3) and batch["x"].dtype == np.float32
    assert batch["label"].dtype == np.int32 and set(batch["label"]) <= set(labels)
    for key in batch:
        if key != "label":
            assert 0.0 <= batch[key].min() and batch[key].max() <= 1.0
    assert not np.array_equal(batch["x"], batch["y"])
    if subview:
        assert batch["x_sub"].shape == (8,) + sub_shape
    if subview == "cut":  # x' is x with a hole
        same = np.isclose(batch["x_sub"], batch["x"]) | (batch["x_sub"] == 0)
        assert same.all() and (batch["x_sub"] == 0).all(-1).any()


def test_cifar10_views_resume_equals_continuing():
    with tfds.testing.mock_data(num_examples=12):
        straight = _numpy_batches(cifar_views.cifar10_views_dataset(5, subview="crop", seed=3), 6)
        resumed = _numpy_batches(cifar_views.cifar10_views_dataset(5, subview="crop", seed=3, start_step=4), 2)
        other = _numpy_batches(cifar_views.cifar10_views_dataset(5, subview="crop", seed=4), 1)
    for got, want in zip(resumed, straight[4:]):
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])
    assert not np.array_equal(other[0]["x"], straight[0]["x"])


def test_every_epoch_visits_every_example_once():
    positions = views.indexed_positions(7, seed=1, start_position=0)
    indices = np.array([int(i) for i, _ in positions.take(21)])
    for epoch in range(3):
        assert sorted(indices[7 * epoch : 7 * epoch + 7]) == list(range(7))
    assert not np.array_equal(indices[:7], indices[7:14])


def test_imagenet100_label_map_matches_the_class_list():
    mapping = imagenet_views.label_map("imagenet100")
    names = imagenet_views.tfds_label_names()
    assert len(names) == 1000 and mapping.shape == (1000,)
    kept = np.nonzero(mapping >= 0)[0]
    assert len(kept) == 100 and sorted(mapping[kept]) == list(range(100))
    assert {names[i] for i in kept} == set(imagenet_views.imagenet100_wnids())
    # Hand-checked: ImageNet class 15 (robin, n01558993) is the first of the sorted list,
    # class 994 (stinkhorn, n13040303) the last; class 0 (tench) is not in ImageNet-100.
    assert names[15] == "n01558993" and mapping[15] == 0
    assert names[994] == "n13040303" and mapping[994] == 99
    assert mapping[0] == -1
    np.testing.assert_array_equal(imagenet_views.label_map("imagenet2012"), np.arange(1000))


def test_imagenet_mock_examples_are_filtered_and_relabelled():
    with tfds.testing.mock_data(num_examples=60):
        raw = [int(e["label"]) for e in tfds.load("imagenet2012", split="train").as_numpy_iterator()]
        builder = tfds.builder("imagenet2012")
        _, labels = imagenet_views.load_encoded(builder, "train", imagenet_views.label_map("imagenet100"))
        _, all_labels = imagenet_views.load_encoded(builder, "train")
    mapping = imagenet_views.label_map("imagenet100")
    assert list(labels) == [int(mapping[r]) for r in raw if mapping[r] >= 0]
    assert list(all_labels) == raw


@pytest.mark.slow
def test_imagenet_views_on_mock_data_resume():
    with tfds.testing.mock_data(num_examples=60):
        kwargs = dict(dataset="imagenet2012", image_size=32, subview="crop", subview_size=16, seed=2)
        straight = _numpy_batches(imagenet_views.imagenet_views_dataset(4, **kwargs), 3)
        resumed = _numpy_batches(imagenet_views.imagenet_views_dataset(4, start_step=2, **kwargs), 1)
    batch = straight[0]
    assert batch["x"].shape == batch["y"].shape == (4, 32, 32, 3) and batch["x_sub"].shape == (4, 16, 16, 3)
    for key in straight[2]:
        np.testing.assert_array_equal(resumed[0][key], straight[2][key])


def test_imagenet_views_registry_fields_and_jigsaw():
    config = ml_collections.ConfigDict({"name": "imagenet_views", "dataset": "imagenet100", "image_size": 32,
                                        "subview": "cut", "subview_size": 96, "manual_dir": "", "data_dir": "",
                                        "jigsaw": True})
    with tfds.testing.mock_data(num_examples=100):
        (batch,) = _numpy_batches(build_dataset(config, 2), 1)
    assert batch["x_sub"].shape == (2, 32, 32, 3)  # cut keeps x's size
    assert batch["x_jigsaw"].shape == (2, 9, 64, 64, 3)
    assert 0 <= batch["label"].min() and batch["label"].max() < 100


# ---------------------------------------------------------------------------------------
# The sharded ImageNet reader, on hand-written TFRecord shards


def _write_shards(directory, shards, per_shard):
    paths = []
    for s in range(shards):
        path = str(directory / f"shard-{s:02d}.tfrecord")
        with tf.io.TFRecordWriter(path) as writer:
            for i in range(per_shard):
                ident = s * per_shard + i
                example = tf.train.Example(features=tf.train.Features(feature={
                    "id": tf.train.Feature(int64_list=tf.train.Int64List(value=[ident])),
                }))
                writer.write(example.SerializeToString())
        paths.append(path)
    return paths


def _parse_ids(keep_below=None):
    def parse(record):
        ident = tf.io.parse_single_example(record, {"id": tf.io.FixedLenFeature([], tf.int64)})["id"]
        label = ident % 10
        if keep_below is not None:
            label = tf.where(label < keep_below, label, -1)
        return tf.strings.as_string(ident), label

    return parse


def _stream_batches(stream, batch, count):
    out = []
    for raw, label, position in stream.batch(batch).take(count).as_numpy_iterator():
        out.append((raw.tolist(), label.tolist(), position.tolist()))
    return out


@pytest.fixture(params=[None, 0], ids=["no_global_seed", "global_seed_0"])
def global_seed(request):
    """The trainer calls keras.utils.set_random_seed(config.seed), 0 by default: the
    streams must build under that global seed too (and under none)."""
    import keras

    if request.param is not None:
        keras.utils.set_random_seed(request.param)
    yield request.param
    tf.random.set_seed(None)


def test_sharded_stream_covers_each_epoch_once_and_resumes(tmp_path, global_seed):
    paths = _write_shards(tmp_path, shards=6, per_shard=10)
    make = lambda start: imagenet_views.sharded_stream(
        paths, [10] * 6, _parse_ids(), 5, seed=4, start_step=start, group_shards=2, shuffle_buffer=8
    )
    straight = _stream_batches(make(0), 5, 24)  # 2 epochs of 12 batches
    ids = [int(i) for batch in straight for i in batch[0]]
    assert sorted(ids[:60]) == list(range(60)) and sorted(ids[60:]) == list(range(60))
    assert ids[:60] != ids[60:]
    assert [p for batch in straight for p in batch[2]] == list(range(120))
    for start in (3, 12, 17):
        assert _stream_batches(make(start), 5, 3) == straight[start : start + 3]


def test_sharded_stream_filters_and_resumes(tmp_path):
    paths = _write_shards(tmp_path, shards=6, per_shard=10)
    make = lambda start: imagenet_views.sharded_stream(
        paths, [10] * 6, _parse_ids(keep_below=3), 2, seed=1, start_step=start, group_shards=2,
        keep_fraction=0.3, slack=0.0, shuffle_buffer=8,
    )
    straight = _stream_batches(make(0), 2, 12)
    assert all(label < 3 for batch in straight for label in batch[1])
    assert _stream_batches(make(5), 2, 4) == straight[5:9]


def test_tfds_stream_reads_prepared_tfds_shards(tmp_path):
    """The real-data path (no mock): a tiny tfds dataset prepared on disk, read shard-wise."""
    builder = tfds.testing.DummyMnist(data_dir=str(tmp_path))
    builder.download_and_prepare()
    shards = builder.info.splits["train"].shard_lengths
    assert sum(shards) == 20
    stream = imagenet_views.tfds_stream(builder, "train", 4, group_shards=4, seed=1)
    epoch = list(stream.take(20).as_numpy_iterator())
    labels = sorted(int(label) for _, label, _ in epoch)
    assert labels == sorted(list(range(10)) * 2)  # DummyMnist: labels i % 10, each example once
    assert [int(p) for _, _, p in epoch] == list(range(20))
    image = imagenet_views.decode_image(epoch[0][0]).numpy()
    assert image.shape == (28, 28, 3) and np.allclose(image, 1 / 255)
    (batch,) = _numpy_batches(
        imagenet_views.infomin_views(stream, 4, image_size=24, subview="crop", subview_size=12), 1)
    assert batch["x"].shape == (4, 24, 24, 3) and batch["x_sub"].shape == (4, 12, 12, 3)
    relabelled = imagenet_views.tfds_stream(builder, "train", 2, mapping=np.where(np.arange(10) < 5, np.arange(10), -1),
                                      keep_fraction=0.5, group_shards=4)
    assert {int(label) for _, label, _ in relabelled.take(8).as_numpy_iterator()} <= set(range(5))


# ---------------------------------------------------------------------------------------
# Evaluation images


@pytest.mark.parametrize("name,split", [("cifar10", "test"), ("cars196", "train"), ("imagenet100", "validation")])
def test_labelled_images_shapes_labels(name, split):
    with tfds.testing.mock_data(num_examples=60):
        examples = list(vision_eval.labelled_images(name, split, image_size=24).as_numpy_iterator())
    assert examples, "no examples"
    for image, label in examples:
        assert image.shape == (24, 24, 3) and image.dtype == np.float32
        assert 0.0 <= image.min() and image.max() <= 1.0
        assert label.dtype == np.int32 and 0 <= label < vision_eval.num_classes(name)
    if name != "imagenet100":
        assert len(examples) == 60


def test_num_classes_and_unknown_names():
    assert [vision_eval.num_classes(n) for n in ("cifar10", "cifar100", "stl10", "cars196", "caltech_birds2011",
                                                 "oxford_flowers102", "imagenet2012", "imagenet100")] == [
        10, 100, 10, 196, 200, 102, 1000, 100]
    with pytest.raises(ValueError, match="Unknown evaluation dataset"):
        vision_eval.labelled_images("mnist_rgb", "train", image_size=32)


# ---------------------------------------------------------------------------------------
# Missing data: one clear error, before any download; an offline download fails at once


@pytest.fixture
def no_downloads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(tfds, "load", refuse)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", refuse)


@pytest.fixture
def offline(monkeypatch, no_downloads):
    """No network: every connection fails at once (nothing leaves this machine)."""

    def no_connection(address, *args, **kwargs):
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", no_connection)


def test_missing_cifar10_with_downloading_off_names_the_switch(tmp_path, no_downloads):
    start = time.time()
    with pytest.raises(ValueError) as info:
        build_dataset(_cifar_config(data_dir=str(tmp_path)), 8)
    message = str(info.value)
    assert "'cifar10'" in message and str(tmp_path) in message and "tfds build cifar10" in message
    assert "Downloading is off; --config.data.download=true downloads it" in message
    with pytest.raises(ValueError, match="'cars196'"):
        vision_eval.labelled_images("cars196", "test", image_size=32, data_dir=str(tmp_path), download=False)
    assert time.time() - start < 5.0


def test_offline_download_fails_at_once_naming_the_switch(tmp_path, offline):
    """Downloading is on by default (as in tfds); offline, the hosts of the dataset's files
    do not answer, and the run stops in seconds, not after tfds's minutes of retries."""
    config = _cifar_config(data_dir=str(tmp_path))
    del config["download"]  # the default
    # tfds imports all its dataset modules on the first builder_cls (seconds of CPU and
    # disk on a slow or cold machine): done before the clock starts, so that the bound
    # below times the probe and the message only, whatever ran before this test.
    for name in ("cifar10", "cars196"):
        tfds.builder_cls(name)
    for load, host in [
        (lambda: build_dataset(config, 8), "www.cs.toronto.edu:443"),
        (lambda: vision_eval.labelled_images("cars196", "test", image_size=32, data_dir=str(tmp_path)),
         "ai.stanford.edu:443"),
    ]:
        start = time.time()
        with pytest.raises(ValueError) as info:
            load()
        assert time.time() - start < 5.0
        message = str(info.value)
        assert str(tmp_path) in message and "tfds build" in message
        assert f"cannot be downloaded: no connection to {host} (Network is unreachable)" in message
        assert message.endswith("To skip the download attempt, run with --config.data.download=false.")


def test_download_probe_is_bounded_when_a_host_never_answers(monkeypatch):
    def hang(address, timeout=None, *args, **kwargs):
        time.sleep(30)  # as a lookup that never answers; then what create_connection raises
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.time()
    result = reachability.unreachable(["a.invalid:443", "b.invalid:80"], timeout=0.5)
    assert time.time() - start < 2.0
    assert result == {"a.invalid:443": "no answer within 0.5 s", "b.invalid:80": "no answer within 0.5 s"}


def test_download_address_goes_through_the_configured_proxy(monkeypatch):
    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
    assert reachability.download_address(url) == "www.cs.toronto.edu:443"
    assert reachability.download_address("http://example.org:8080/x") == "example.org:8080"
    monkeypatch.setenv("https_proxy", "http://proxy.local:3128")
    assert reachability.download_address(url) == "proxy.local:3128"
    monkeypatch.setenv("no_proxy", "toronto.edu")
    assert reachability.download_address(url) == "www.cs.toronto.edu:443"


def test_download_runs_when_the_hosts_answer_and_its_failure_is_one_error(tmp_path, monkeypatch):
    monkeypatch.setattr(reachability, "unreachable", lambda addresses, timeout: {})
    calls = []
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", lambda self, **kw: calls.append(self.name))
    tfds_utils.require_tfds_data("cifar10", str(tmp_path))
    assert calls == ["cifar10"]

    def broken(self, **kwargs):
        raise ConnectionError("Connection reset by peer")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", broken)
    with pytest.raises(ValueError) as info:
        tfds_utils.require_tfds_data("cifar10", str(tmp_path))
    message = str(info.value)
    assert "Preparing the tfds dataset 'cifar10'" in message and "ConnectionError: Connection reset by peer" in message
    assert "--config.data.download=false" in message


@pytest.fixture
def prepared_dummy(tmp_path):
    """A tiny tfds dataset prepared on disk (20 examples, no network): its version folder."""
    builder = tfds.testing.DummyMnist(data_dir=str(tmp_path))
    builder.download_and_prepare()
    (folder,) = tfds_utils.prepared_dirs("dummy_mnist", str(tmp_path))
    return Path(folder)


def test_prepared_dataset_reads(prepared_dummy):
    images, labels = tfds_utils.load_images("dummy_mnist", "train", str(prepared_dummy.parents[1]), False)
    assert images.shape == (20, 28, 28, 1) and sorted(labels) == sorted(list(range(10)) * 2)


@pytest.mark.parametrize("damage", ["garbled_dataset_info", "truncated_records"])
def test_corrupt_prepared_dataset_names_its_folder_and_the_fix(prepared_dummy, damage):
    if damage == "garbled_dataset_info":
        info = prepared_dummy / "dataset_info.json"
        info.write_text(info.read_text()[: len(info.read_text()) // 2])
        errors = ["ParseError"]
    else:
        (records,) = prepared_dummy.glob("dummy_mnist-train.tfrecord*")
        records.write_bytes(records.read_bytes()[: records.stat().st_size // 2 + 7])  # cut inside a record
        errors = ["DataLossError", "FailedPreconditionError"]  # a torn record; fewer records than listed
    with pytest.raises(ValueError) as info:
        tfds_utils.load_images("dummy_mnist", "train", str(prepared_dummy.parents[1]), False)
    message = str(info.value)
    assert any(f"The prepared tfds dataset 'dummy_mnist' in {prepared_dummy} cannot be read ({error}: " in message
               for error in errors), message
    assert f"Delete {prepared_dummy} and prepare it again" in message
    assert "{{function_node" not in message


def test_missing_imagenet_names_the_manual_download_directory(tmp_path, no_downloads):
    manual = tmp_path / "manual"
    config = ml_collections.ConfigDict({"name": "imagenet_views", "dataset": "imagenet100", "image_size": 224,
                                        "subview": "crop", "subview_size": 96, "data_dir": str(tmp_path),
                                        "manual_dir": str(manual)})
    for download in (False, True):  # download=True without the tar files must not start a download either
        config.download = download
        with pytest.raises(ValueError) as info:
            build_dataset(config, 8)
        message = str(info.value)
        assert "'imagenet2012'" in message and str(tmp_path) in message and str(manual) in message
        assert "ILSVRC2012_img_train.tar" in message and "ILSVRC2012_img_val.tar" in message
    config.manual_dir = ""
    with pytest.raises(ValueError, match=str(tmp_path / "downloads" / "manual")):
        build_dataset(config, 8)


def test_tfds_prepared_looks_on_disk_only(tmp_path):
    assert not tfds_utils.tfds_prepared("cifar10", str(tmp_path))
    (tmp_path / "cifar10" / "3.0.2").mkdir(parents=True)
    assert not tfds_utils.tfds_prepared("cifar10", str(tmp_path))
    (tmp_path / "cifar10" / "3.0.2" / "dataset_info.json").write_text("{}")
    assert tfds_utils.tfds_prepared("cifar10", str(tmp_path))
    (tmp_path / "ds" / "cfg" / "1.0.0").mkdir(parents=True)
    (tmp_path / "ds" / "cfg" / "1.0.0" / "dataset_info.json").write_text("{}")
    assert tfds_utils.tfds_prepared("ds/cfg", str(tmp_path)) and not tfds_utils.tfds_prepared("ds", str(tmp_path))
    assert mnist_halves.tfds_prepared is tfds_utils.tfds_prepared  # one helper, shared


def test_bad_view_settings_get_clear_errors():
    with pytest.raises(ValueError, match="subview mode"):
        views.subview_fn("mask", image_size=32)
    with pytest.raises(ValueError, match="batch_size"):
        views.check_batch_args(1, 0)
    with pytest.raises(ValueError, match="Unknown ImageNet dataset"):
        imagenet_views.label_map("imagenet1k")
