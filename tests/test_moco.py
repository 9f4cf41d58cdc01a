"""MoCoModel (InfoMin / InfoMin (multi) / DEMI with a momentum encoder and a queue):
the Listing-1 loss against hand computation, the queue and the EMA against NumPy,
2 replicas (mirrored, and 2 workers) against 1, errors, export, configs, the trainer."""

import json
import math
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmi import bounds
from tfmi.config_utils import load_config
from tfmi.models import MoCoModel, build_model, export_model
from tfmi.workdir import EXPORT

BATCH = 4


def tiny_backbone(name=None):
    """Images [B, H, W, 3] (any size) -> features [B, 6]."""
    return keras.Sequential(
        [keras.layers.Conv2D(6, 3, strides=2, activation="relu"), keras.layers.GlobalAveragePooling2D()], name=name
    )


def make_batch(seed=0, batch=BATCH, size=12, sub=6):
    rng = np.random.default_rng(seed)
    return {
        "x": tf.constant(rng.random((batch, size, size, 3), dtype=np.float32)),
        "y": tf.constant(rng.random((batch, size, size, 3), dtype=np.float32)),
        "x_sub": tf.constant(rng.random((batch, sub, sub, 3), dtype=np.float32)),
        "label": tf.constant(rng.integers(0, 3, batch).astype(np.int32)),
    }


def build(method="demi", queue_size=12, momentum=0.9, temperature=0.2, batch=None, lr=0.1, key_backbone=True):
    keras.utils.set_random_seed(0)
    model = MoCoModel(
        tiny_backbone(), tiny_backbone() if key_backbone else None, method=method, head_hidden=(8,), head_dim=5,
        queue_size=queue_size, momentum=momentum, temperature=temperature,
    )
    model.compile(optimizer=keras.optimizers.SGD(lr, momentum=0.9))
    model.build_from_batch(batch if batch is not None else make_batch())
    model.optimizer.build(model.trainable_variables)
    return model


def np_cross_entropy_of_first(logits):
    """mean_i [log sum_j exp(l_ij) - l_i0], in float64."""
    logits = np.asarray(logits, np.float64)
    top = logits.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0] - logits[:, 0]))


def np_unit(a):
    a = np.asarray(a, np.float64)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


# --- Listing 1 --------------------------------------------------------------------------


def test_listing1_loss_on_fixed_logits_equals_the_hand_computed_value():
    # One row, three candidates (positive first). By hand, with CE(s) = log sum e^s - s_0:
    s_x_y, s_xp_y = [[2.0, 0.0, 1.0]], [[1.0, 1.0, 0.0]]
    s_bo_x_y, s_bo_xp_y = [[0.0, 1.0, -1.0]], [[1.0, 0.0, 0.0]]
    nce_x_y = math.log(math.e**2 + 1 + math.e) - 2  # 0.4076
    nce_xp_y = math.log(2 * math.e + 1) - 1  # 0.8620
    bo_x_xp = math.log(math.e + math.e**2 + math.exp(-1)) - 1  # 1.3490: s_xp_y + s_bo_x_y = [1, 2, -1]
    bo_xp_x = math.log(math.e**3 + 1 + math.e) - 3  # 0.1699: s_x_y + s_bo_xp_y = [3, 0, 1]
    terms = bounds.demi_listing1_loss(s_x_y, s_xp_y, s_bo_x_y, s_bo_xp_y)
    expected = dict(nce_x_y=nce_x_y, nce_xp_y=nce_xp_y, bo_x_xp=bo_x_xp, bo_xp_x=bo_xp_x)
    expected["loss"] = sum(expected.values())
    assert expected["loss"] == pytest.approx(2.78846, abs=1e-5)
    for name, value in expected.items():
        assert float(terms[name]) == pytest.approx(value, rel=1e-6), name


def test_listing1_boosted_terms_do_not_train_the_unconditional_logits():
    rng = np.random.default_rng(1)
    s = [tf.constant(rng.normal(size=(3, 5)), tf.float32) for _ in range(4)]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(s)
        terms = bounds.demi_listing1_loss(*s)
    # d loss / d s_x_y is that of nce_x_y alone: bo_xp_x sees s_x_y detached.
    np.testing.assert_allclose(tape.gradient(terms["loss"], s[0]), tape.gradient(terms["nce_x_y"], s[0]), atol=1e-7)
    np.testing.assert_allclose(tape.gradient(terms["loss"], s[1]), tape.gradient(terms["nce_xp_y"], s[1]), atol=1e-7)
    assert np.abs(tape.gradient(terms["bo_x_xp"], s[2]).numpy()).sum() > 0


@pytest.mark.parametrize("method", ["infomin", "infomin_multi", "demi"])
def test_forward_equals_numpy_from_the_encoders_and_the_queue(method):
    """Every term recomputed in NumPy from f, g, g_bo, f_ema, g_ema and the queue."""
    batch = make_batch(3)
    model = build(method, temperature=0.3)
    outputs = {name: float(value) for name, value in model.forward(batch).items()}
    f_x, f_xp = model.backbone(batch["x"]), model.backbone(batch["x_sub"])
    k = np_unit(model.key_head(model.key_backbone(batch["y"])))
    queue = model.queue.numpy().astype(np.float64)

    def logits(q):
        q = np_unit(q)
        return np.concatenate([np.sum(q * k, axis=1, keepdims=True), q @ queue.T], axis=1) / 0.3

    s_x_y, s_xp_y = logits(model.head(f_x)), logits(model.head(f_xp))
    expected = {"nce_x_y": np_cross_entropy_of_first(s_x_y)}
    if method != "infomin":
        expected["nce_xp_y"] = np_cross_entropy_of_first(s_xp_y)
    if method == "demi":
        expected["bo_x_xp"] = np_cross_entropy_of_first(s_xp_y + logits(model.bo_head(f_x)))
        expected["bo_xp_x"] = np_cross_entropy_of_first(s_x_y + logits(model.bo_head(f_xp)))
    expected["loss"] = sum(expected.values())
    expected["accuracy"] = float(np.mean(np.argmax(s_x_y, axis=1) == 0))
    assert sorted(outputs) == sorted(expected)
    for name, value in expected.items():
        assert outputs[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    assert 0 < outputs["nce_x_y"] < math.log(1 + 12) + 10


def test_only_the_query_side_is_trained():
    model = build("demi")
    trainable = {id(v) for v in model.trainable_variables}
    query = model.backbone.trainable_weights + model.head.trainable_weights + model.bo_head.trainable_weights
    key = model.key_backbone.weights + model.key_head.weights
    assert trainable == {id(v) for v in query}
    assert not trainable & {id(v) for v in key}
    assert id(model.queue) not in trainable and id(model.queue_pointer) not in trainable


# --- EMA and queue ---------------------------------------------------------------------


def test_key_encoder_starts_as_a_copy_and_follows_the_ema():
    momentum = 0.7
    model = build("demi", momentum=momentum, lr=0.5)
    query = model.backbone.weights + model.head.weights
    key = model.key_backbone.weights + model.key_head.weights
    for k, q in zip(key, query):
        np.testing.assert_array_equal(k.numpy(), q.numpy())
    key_before = [k.numpy().astype(np.float64) for k in key]
    step = tf.function(model.train_step)
    step(make_batch(1))
    moved = 0.0
    for k, q, before in zip(key, query, key_before):
        expected = momentum * before + (1 - momentum) * q.numpy()
        np.testing.assert_allclose(k.numpy(), expected, rtol=1e-5, atol=1e-6)
        moved = max(moved, float(np.abs(k.numpy() - before).max()))
    assert moved > 1e-4, "the query encoder did not move: the check would be vacuous"
    # A second step: the EMA compounds from the previous key weights.
    key_before = [k.numpy().astype(np.float64) for k in key]
    step(make_batch(2))
    for k, q, before in zip(key, query, key_before):
        np.testing.assert_allclose(k.numpy(), momentum * before + (1 - momentum) * q.numpy(), rtol=1e-5, atol=1e-6)


def test_clone_of_the_backbone_serves_as_key_encoder():
    model = build("infomin", key_backbone=False)
    assert model.key_backbone is not model.backbone
    for k, q in zip(model.key_backbone.weights, model.backbone.weights):
        np.testing.assert_array_equal(k.numpy(), q.numpy())


def test_enqueue_writes_oldest_rows_first_and_wraps_around():
    model = build("infomin", queue_size=12)
    reference = model.queue.numpy().copy()
    assert np.allclose(np.linalg.norm(reference, axis=1), 1.0), "the initial queue holds unit keys"
    pointer = 0
    rng = np.random.default_rng(5)
    for step in range(5):  # 5 batches of 4 into 12 rows: wraps after the third
        keys = rng.normal(size=(BATCH, 5)).astype(np.float32)
        model.enqueue(keys)
        reference[(pointer + np.arange(BATCH)) % 12] = keys
        pointer = (pointer + BATCH) % 12
        np.testing.assert_array_equal(model.queue.numpy(), reference)
        assert int(model.queue_pointer.numpy()) == pointer
    assert pointer == 8


def test_train_step_enqueues_the_keys_it_contrasted_with():
    """The keys of step t (from the key encoder before its EMA update) land in rows
    [pointer, pointer + B), and the logits of step t used the queue before that write."""
    model = build("infomin_multi", queue_size=8)
    batch = make_batch(4)
    keys = model.keys(batch["y"], training=True).numpy()
    queue_before = model.queue.numpy().copy()
    before = {name: float(value) for name, value in model.forward(batch, training=True).items()}
    outputs = tf.function(model.train_step)(batch)
    assert float(outputs["nce_x_y"]) == pytest.approx(before["nce_x_y"], rel=1e-6)
    np.testing.assert_allclose(model.queue.numpy()[:BATCH], keys, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(model.queue.numpy()[BATCH:], queue_before[BATCH:])
    assert int(model.queue_pointer.numpy()) == BATCH


# --- errors ----------------------------------------------------------------------------


def test_queue_size_not_divisible_by_the_global_batch_is_refused():
    keras.utils.set_random_seed(0)
    model = MoCoModel(tiny_backbone(), tiny_backbone(), method="infomin", head_hidden=(8,), head_dim=5, queue_size=30)
    with pytest.raises(ValueError) as caught:
        model.build_from_batch(make_batch(batch=8))
    message = str(caught.value)
    assert "queue_size=30" in message and "global batch size 8" in message and "24" in message


def test_bad_arguments_and_missing_subview_give_clear_errors():
    with pytest.raises(ValueError, match="Unknown MoCo method 'simclr'"):
        MoCoModel(tiny_backbone(), method="simclr")
    with pytest.raises(ValueError, match="queue_size must be a positive integer"):
        MoCoModel(tiny_backbone(), queue_size=0)
    batch = make_batch()
    del batch["x_sub"]
    model = MoCoModel(tiny_backbone(), tiny_backbone(), method="demi", head_hidden=(8,), head_dim=5, queue_size=12)
    with pytest.raises(ValueError, match="needs the subview x' in the batch key 'x_sub'"):
        model.build_from_batch(batch)
    flat = keras.Sequential([keras.layers.Conv2D(2, 3)])  # no pooling: 4-D features
    with pytest.raises(ValueError, match="global pooling"):
        MoCoModel(flat, method="infomin", head_dim=5, queue_size=12).build_from_batch(batch)


# --- export ----------------------------------------------------------------------------


def test_export_serves_the_query_backbone(tmp_path):
    model = build("demi", lr=0.5)
    tf.function(model.train_step)(make_batch(1))
    (path,) = export_model(model, str(tmp_path))
    assert path.endswith("encoder")
    loaded = tf.saved_model.load(path)
    images = make_batch(7)["x"]
    served = loaded.serve(images).numpy()
    np.testing.assert_allclose(served, model.backbone(images).numpy(), rtol=1e-5, atol=1e-6)
    assert np.abs(served - model.key_backbone(images).numpy()).max() > 1e-6, "served the key encoder"


# --- two replicas equal one ------------------------------------------------------------

# Run in a subprocess: "mirrored" splits the CPU into 2 logical devices (before TF
# initialises them); "multiworker" is one of 2 workers (TF_CONFIG), 1 replica each.
# Builds the same model under the default strategy and the 2-replica one, feeds both the
# same global batches for 3 steps (the queue of 16 keys wraps after 2 batches of 8) and
# prints per-step losses, queues and pointers (every local replica's copy) and weights.
EQUIVALENCE_SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    import tensorflow as tf

    mode = sys.argv[1]
    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()

    import keras
    import numpy as np

    from tfmi import distribute
    from tfmi.models import MoCoModel

    BATCH, STEPS, QUEUE = 8, 3, 16
    rng = np.random.default_rng(0)
    DATA = {
        "x": rng.random((STEPS, BATCH, 12, 12, 3), dtype=np.float32),
        "y": rng.random((STEPS, BATCH, 12, 12, 3), dtype=np.float32),
        "x_sub": rng.random((STEPS, BATCH, 6, 6, 3), dtype=np.float32),
        "label": rng.integers(0, 5, (STEPS, BATCH)).astype(np.int32),
    }

    def dataset():
        return tf.data.Dataset.from_tensor_slices(DATA)

    def backbone():
        # Synchronised BN: batch statistics of the global batch, as on one replica.
        return keras.Sequential([
            keras.layers.Conv2D(4, 3, strides=2),
            keras.layers.BatchNormalization(synchronized=True),
            keras.layers.ReLU(),
            keras.layers.GlobalAveragePooling2D(),
        ])

    def build(strategy, method):
        first = next(iter(dataset()))
        with strategy.scope():
            keras.utils.set_random_seed(1)
            model = MoCoModel(backbone(), backbone(), method=method, head_hidden=(8,), head_dim=4,
                              queue_size=QUEUE, momentum=0.5, temperature=0.2)
            model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
            model.build_from_batch(first)
            model.optimizer.build(model.trainable_variables)
        return model

    def local(strategy, value):
        return strategy.experimental_local_results(value)

    def run(strategy, model):
        iterator = iter(distribute.distribute_global_batches(strategy, dataset))

        @tf.function
        def train_step(batch):
            def step(local_batch):
                for tracker in model.metrics:
                    tracker.reset_state()
                return model.train_step(local_batch)
            return strategy.run(step, args=(batch,))

        record = {"losses": [], "queues": [], "pointers": []}
        for _ in range(STEPS):
            outputs = train_step(next(iterator))
            record["losses"].append({k: [float(v) for v in local(strategy, t)] for k, t in outputs.items()})
            record["queues"].append([q.numpy().tolist() for q in local(strategy, model.queue.value)])
            record["pointers"].append([int(p) for p in local(strategy, model.queue_pointer.value)])
        record["weights"] = [w.tolist() for w in model.get_weights()]
        return record

    results = {"replicas": strategy.num_replicas_in_sync}
    for method in sys.argv[2:]:
        one = build(tf.distribute.get_strategy(), method)
        two = build(strategy, method)
        two.set_weights(one.get_weights())
        results[method] = {"one": run(tf.distribute.get_strategy(), one), "two": run(strategy, two)}
    print("RESULT " + json.dumps(results))
    """
)

METHODS = ("infomin", "demi")


def _run_script(path, args, helpers, env=None, timeout=400):
    return subprocess.Popen(
        [sys.executable, str(path), *args],
        cwd=helpers.REPO_ROOT,
        env=env or helpers.trainer_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(process, timeout=400):
    stdout, stderr = process.communicate(timeout=timeout)
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert process.returncode == 0 and lines, stderr[-5000:]
    return json.loads(lines[-1][len("RESULT "):])


def _assert_two_equal_one(result, method):
    assert result["replicas"] == 2
    one, two = result[method]["one"], result[method]["two"]
    for step in range(3):
        for name, (value,) in one["losses"][step].items():
            for replica_value in two["losses"][step][name]:  # every local replica's copy
                assert replica_value == pytest.approx(value, rel=1e-5, abs=1e-6), (step, name)
        (queue,) = one["queues"][step]
        for replica_queue in two["queues"][step]:
            np.testing.assert_allclose(replica_queue, queue, rtol=1e-5, atol=1e-5)
        assert two["pointers"][step] == [one["pointers"][step][0]] * len(two["pointers"][step])
    assert [p[0] for p in one["pointers"]] == [8, 0, 8], "the queue did not wrap around"
    assert one["queues"][2] != one["queues"][0]
    for a, b in zip(one["weights"], two["weights"]):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def mirrored_result(tmp_path_factory, helpers):
    script = tmp_path_factory.mktemp("moco_equivalence") / "equivalence.py"
    script.write_text(EQUIVALENCE_SCRIPT)
    return _result(_run_script(script, ["mirrored", *METHODS], helpers))


@pytest.mark.slow  # about 30-60 s: a subprocess that traces 4 models on 2 logical CPUs
@pytest.mark.parametrize("method", METHODS)
def test_two_mirrored_replicas_match_one_device_queue_included(mirrored_result, method):
    _assert_two_equal_one(mirrored_result, method)


@pytest.mark.slow
def test_two_workers_match_one_device_queue_included(tmp_path, helpers):
    script = tmp_path / "equivalence.py"
    script.write_text(EQUIVALENCE_SCRIPT)
    cluster = helpers.local_cluster(2)
    processes = []
    try:
        for index in range(2):
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            env = helpers.trainer_env(TF_CONFIG=tf_config)
            processes.append(_run_script(script, ["multiworker", "demi"], helpers, env=env))
        results = [_result(process) for process in processes]
    finally:
        for process in processes:
            helpers.stop(process)
    for result in results:
        _assert_two_equal_one(result, "demi")


# --- configs and the trainer -----------------------------------------------------------

CONFIGS = {
    "imagenet_infomin.py": ("infomin", "imagenet2012", 70.1),
    "imagenet_infomin_multi.py": ("infomin_multi", "imagenet2012", 70.2),
    "imagenet_demi.py": ("demi", "imagenet2012", 70.8),
    "imagenet100_infomin.py": ("infomin", "imagenet100", 74.9),
    "imagenet100_infomin_multi.py": ("infomin_multi", "imagenet100", 77.2),
    "imagenet100_demi.py": ("demi", "imagenet100", 78.6),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_configs_hold_the_paper_setting(name, helpers):
    method, dataset, top1 = CONFIGS[name]
    config = load_config(helpers.REPO_ROOT / "configs" / name)
    assert config.model.name == "moco" and config.model.method == method
    assert config.data.name == "imagenet_views" and config.data.dataset == dataset
    assert config.data.subview == ("" if method == "infomin" else "crop")
    assert dict(config.model.backbone) == dict(name="resnet", depth=50, variant="imagenet", width=64,
                                               synchronized_bn=True)
    assert (config.model.queue_size, config.model.momentum, config.model.head_dim) == (65536, 0.999, 128)
    assert tuple(config.model.head_hidden) == (2048,)
    assert config.batch_size == 256 and config.optimizer.learning_rate == 0.03
    assert config.optimizer.lr_scaling == "linear" and config.optimizer.weight_decay == 1e-4
    assert config.optimizer.schedule == "cosine" and config.optimizer.momentum == 0.9
    images = {"imagenet2012": 1_281_167, "imagenet100": 126_689}[dataset]
    assert config.total_steps == math.ceil(200 * images / 256)
    assert config.paper_top1 == top1
    assert config.model.queue_size % config.batch_size == 0
    local = load_config(f"{helpers.REPO_ROOT / 'configs' / name}:runlocal")
    assert local.batch_size == 8 and local.model.queue_size == 32 and local.total_steps == 6
    assert local.model.backbone["depth"] == 18 and local.data.image_size == 32


def test_config_arguments(helpers):
    path = helpers.REPO_ROOT / "configs" / "imagenet_demi.py"
    cut = load_config(f"{path}:subview=cut,batch=512,t=0.2")
    assert cut.data.subview == "cut" and cut.experiment == "imagenet_demi_cut"
    assert cut.model.temperature == 0.2 and cut.batch_size == 512
    assert cut.optimizer.warmup_steps == math.ceil(5 * 1_281_167 / 512)  # warm-up above batch 256
    with pytest.raises(ValueError, match="subview must be crop or cut"):
        load_config(f"{path}:subview=blur")
    synthetic = load_config(f"{path}:runlocal,synthetic")
    assert synthetic.data.name == "synthetic_views" and synthetic.data.sub_size == 16


def test_runlocal_config_builds_the_resnet_model(helpers):
    config = load_config(f"{helpers.REPO_ROOT / 'configs' / 'imagenet_demi.py'}:runlocal")
    model = build_model(config.model)
    assert isinstance(model, MoCoModel) and model.method == "demi" and model.queue_size == 32
    model.build_from_batch(make_batch(batch=8, size=32, sub=16))
    outputs = model.forward(make_batch(batch=8, size=32, sub=16))
    assert all(np.isfinite(float(value)) for value in outputs.values())
    assert model.backbone.output_dim == 64


# Runs the trainer on tfds's mock ImageNet (no data on disk) in a subprocess.
MOCK_TRAINER = textwrap.dedent(
    """
    import sys

    import tensorflow_datasets as tfds
    from absl import app

    from trainers import train

    with tfds.testing.mock_data(num_examples=24):
        app.run(train.main, argv=["train", *sys.argv[1:]])
    """
)


@pytest.mark.slow
def test_trainer_runlocal_imagenet_demi_trains_resumes_and_exports(tmp_path, helpers):
    script = tmp_path / "mock_trainer.py"
    script.write_text(MOCK_TRAINER)
    workdir = tmp_path / "run"
    config = helpers.REPO_ROOT / "configs" / "imagenet_demi.py"

    def run(*overrides):
        return subprocess.run(
            [sys.executable, str(script), "--config", f"{config}:runlocal", "--workdir", str(workdir), *overrides],
            cwd=helpers.REPO_ROOT, env=helpers.trainer_env(), capture_output=True, text=True, timeout=600,
        )

    first = run()
    assert first.returncode == 0, first.stderr[-5000:]
    records = helpers.read_metrics(workdir)
    assert [r["step"] for r in records] == [3, 6]
    for name in ("loss", "nce_x_y", "nce_xp_y", "bo_x_xp", "bo_xp_x", "accuracy"):
        assert all(np.isfinite(r[f"train/{name}"]) for r in records), name
    assert helpers.latest_checkpoint_step(workdir) == 6

    second = run("--config.total_steps=9")
    assert second.returncode == 0, second.stderr[-5000:]
    assert "Resumed from" in second.stderr and "at step 6" in second.stderr
    assert [r["step"] for r in helpers.read_metrics(workdir)] == [3, 6, 9]
    assert helpers.latest_checkpoint_step(workdir) == 9

    loaded = tf.saved_model.load(str(workdir / EXPORT / "encoder"))
    features = loaded.serve(tf.random.uniform([2, 32, 32, 3]))
    assert features.shape == (2, 64)
