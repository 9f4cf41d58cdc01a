"""SimCLR / SimCLR + DEMI: the NT-Xent and Listing-1 losses against NumPy and hand-computed
values, the ResNet variants, LARS against a NumPy step, mixed precision, one device vs
two replicas, and (slow) the trainer end to end with export and linear evaluation."""

import json
import math
import subprocess
import sys
import textwrap

import keras
import ml_collections
import numpy as np
import pytest
import tensorflow as tf

from tfmi import bounds
from tfmi.encoders import get as get_encoder
from tfmi.encoders.resnet import ResNet
from tfmi.layers import ProjectionHead
from tfmi.models import build_model
from tfmi.models.simclr import nt_xent
from tfmi.optim import LARS, make_optimizer, scaled_learning_rate

REPO_CONFIGS = __import__("pathlib").Path(__file__).resolve().parents[1] / "configs"


def _numpy_nt_xent(z_x, z_y, tau):
    """NT-Xent by the definition: 2N views, each against the 2N - 1 others."""
    z = np.concatenate([z_x, z_y]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z_x)
    losses = []
    for k in range(2 * n):
        partner = (k + n) % (2 * n)
        others = [c for c in range(2 * n) if c != k]
        log_denominator = np.log(sum(np.exp(z[k] @ z[c] / tau) for c in others))
        losses.append(-(z[k] @ z[partner] / tau - log_denominator))
    return np.mean(losses)


def test_nt_xent_equals_numpy_definition():
    rng = np.random.default_rng(0)
    z_x, z_y = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(5, 4)).astype(np.float32)
    loss, accuracy = nt_xent(z_x, z_y, temperature=0.5)
    assert float(loss) == pytest.approx(_numpy_nt_xent(z_x, z_y, 0.5), rel=1e-5)
    # Identical views at a low temperature: each anchor finds its partner.
    loss, accuracy = nt_xent(z_x, z_x, temperature=0.05)
    assert float(accuracy) == 1.0 and float(loss) < 0.1


def test_listing1_loss_equals_hand_computed_value():
    """One anchor, two candidates, positive in column 0 (Listing 1's layout)."""
    s_x_y = tf.constant([[1.0, 0.0]])
    s_xp_y = tf.constant([[0.0, 0.0]])
    s_bo_x_y = tf.constant([[0.0, 1.0]])
    s_bo_xp_y = tf.constant([[2.0, 0.0]])
    with tf.GradientTape() as tape:
        tape.watch([s_x_y, s_xp_y, s_bo_x_y, s_bo_xp_y])
        out = bounds.demi_listing1_loss(s_x_y, s_xp_y, s_bo_x_y, s_bo_xp_y)
    # -log softmax(s)[0] = log(1 + e^{s_1 - s_0}):
    expected = {
        "nce_x_y": math.log(1 + math.exp(-1)),  # [1, 0]
        "nce_xp_y": math.log(2),  # [0, 0]
        "bo_x_xp": math.log(1 + math.exp(1)),  # [0, 0] + [0, 1]
        "bo_xp_x": math.log(1 + math.exp(-3)),  # [1, 0] + [2, 0]
    }
    for name, value in expected.items():
        assert float(out[name]) == pytest.approx(value, rel=1e-6)
    assert float(out["loss"]) == pytest.approx(sum(expected.values()), rel=1e-6)
    assert float(out["loss"]) == pytest.approx(0.313262 + 0.693147 + 1.313262 + 0.048587, abs=2e-6)
    # The unconditional logits enter the BO terms detached: d loss / d s_x_y is the
    # gradient of nce_x_y alone, softmax([1, 0]) - [1, 0].
    g_x_y, g_xp_y, _, _ = tape.gradient(out["loss"], [s_x_y, s_xp_y, s_bo_x_y, s_bo_xp_y])
    p = 1 / (1 + math.exp(-1))
    np.testing.assert_allclose(g_x_y.numpy(), [[p - 1, 1 - p]], rtol=1e-5)
    np.testing.assert_allclose(g_xp_y.numpy(), [[-0.5, 0.5]], rtol=1e-5)


def test_listing1_loss_labels_pick_the_positive_column_and_check_shapes():
    scores = tf.constant([[0.0, 3.0], [2.0, 0.0]])
    diagonal = bounds.demi_listing1_loss(scores, scores, scores, scores, labels=[0, 1])
    # Row 0 positive 0.0 vs 3.0, row 1 positive 0.0 vs 2.0.
    nce = (math.log(1 + math.exp(3)) + math.log(1 + math.exp(2))) / 2
    assert float(diagonal["nce_x_y"]) == pytest.approx(nce, rel=1e-6)
    with pytest.raises(ValueError, match="same anchors"):
        bounds.demi_listing1_loss(scores, scores[:, :1], scores, scores)


@pytest.mark.parametrize(
    "depth, variant, trainable, features",
    [
        # torchvision's resnet50 / resnet18 parameter counts less the fc layer.
        (50, "imagenet", 25_557_032 - 2_049_000, 2048),
        (50, "cifar", 25_557_032 - 2_049_000 - 7 * 7 * 3 * 64 + 3 * 3 * 3 * 64, 2048),
        (18, "imagenet", 11_689_512 - 513_000, 512),
        (18, "cifar", 11_689_512 - 513_000 - 7 * 7 * 3 * 64 + 3 * 3 * 3 * 64, 512),
    ],
)
def test_resnet_parameter_counts(depth, variant, trainable, features):
    model = ResNet(depth, variant)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == trainable
    assert model.output_dim == features


def test_resnet_variants_shapes_and_config():
    images = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)
    cifar = ResNet(18, "cifar", width=4)
    imagenet = ResNet(18, "imagenet", width=4)
    assert cifar(images).shape == (2, 32) and imagenet(images).shape == (2, 32)
    # The CIFAR stem keeps 32x32 into stage 1; the ImageNet stem divides by 4.
    assert cifar.get_layer("stage1_block1_out").output.shape[1:3] == (None, None)
    assert "stem_pool" in [l.name for l in imagenet.layers] and "stem_pool" not in [l.name for l in cifar.layers]
    stage1 = keras.Model(cifar.inputs[0], cifar.get_layer("stage1_block1_out").output)
    stage1_imagenet = keras.Model(imagenet.inputs[0], imagenet.get_layer("stage1_block1_out").output)
    assert stage1(images).shape[1:3] == (32, 32) and stage1_imagenet(images).shape[1:3] == (8, 8)
    rebuilt = ResNet.from_config(cifar.get_config())
    assert rebuilt.count_params() == cifar.count_params()
    assert get_encoder("resnet", depth=18, width=4).output_dim == 32
    assert ResNet(50, "cifar", width=2)(images).shape == (2, 64)
    with pytest.raises(ValueError, match="variant"):
        ResNet(18, "tiny")
    with pytest.raises(ValueError, match="Bad arguments for encoder 'resnet'.*widht"):
        get_encoder("resnet", depth=18, widht=8)
    head = ProjectionHead(8, input_dim=32)
    assert head(np.zeros((3, 32), np.float32)).shape == (3, 8)


def _lars_numpy(w, g, v, lr, momentum, wd, eta, adapted):
    if adapted:
        g = g + wd * w
        w_norm, g_norm = np.linalg.norm(w), np.linalg.norm(g)
        lr = lr * (eta * w_norm / g_norm if w_norm > 0 and g_norm > 0 else 1.0)
    v = momentum * v + lr * g
    return w - v, v


def test_lars_matches_numpy_steps():
    rng = np.random.default_rng(1)
    kernel0, bias0 = rng.normal(size=(3, 2)), rng.normal(size=(2,))
    kernel = keras.Variable(kernel0.astype(np.float32), name="kernel")
    bias = keras.Variable(bias0.astype(np.float32), name="bias")
    optimizer = LARS(0.5, momentum=0.9, weight_decay=0.1, eta=0.01)
    optimizer.build([kernel, bias])
    w = {"kernel": kernel0, "bias": bias0}
    v = {"kernel": np.zeros_like(kernel0), "bias": np.zeros_like(bias0)}
    for _ in range(3):
        grads = {"kernel": rng.normal(size=(3, 2)), "bias": rng.normal(size=(2,))}
        optimizer.apply([tf.constant(grads[k], tf.float32) for k in ("kernel", "bias")], [kernel, bias])
        for name in w:  # rank-1 (bias, batch norm): neither decayed nor adapted
            w[name], v[name] = _lars_numpy(w[name], grads[name], v[name], 0.5, 0.9, 0.1, 0.01, name == "kernel")
    np.testing.assert_allclose(kernel.numpy(), w["kernel"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias.numpy(), w["bias"], rtol=1e-5, atol=1e-6)
    assert LARS.from_config(optimizer.get_config()).eta == 0.01


def test_learning_rate_scaling_and_optimizer_config():
    assert scaled_learning_rate(0.3, "linear", 512) == pytest.approx(0.6)
    assert scaled_learning_rate(0.075, "sqrt", 4096) == pytest.approx(4.8)
    assert scaled_learning_rate(0.5, "none", 800) == 0.5
    with pytest.raises(ValueError, match="lr_scaling"):
        scaled_learning_rate(0.5, "quadratic", 800)
    config = ml_collections.ConfigDict(dict(name="lars", learning_rate=0.3, lr_scaling="linear", momentum=0.9,
                                            schedule="constant", warmup_steps=0, weight_decay=1e-6))
    optimizer = make_optimizer(config, 100, batch_size=512)
    assert isinstance(optimizer, LARS) and float(optimizer.learning_rate) == pytest.approx(0.6)


def _tiny_model(method="simclr_demi", num_classes=10):
    config = ml_collections.ConfigDict(dict(
        name="simclr", method=method, temperature=0.5, proj_dim=8, proj_hidden=16, num_classes=num_classes,
        backbone=dict(name="resnet", depth=18, variant="cifar", width=4, synchronized_bn=True),
    ))
    return build_model(config)


def _batch(n=8, size=16, sub=8, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.random((n, size, size, 3), dtype=np.float32),
        "y": rng.random((n, size, size, 3), dtype=np.float32),
        "label": rng.integers(0, 10, n).astype(np.int32),
        "x_sub": rng.random((n, sub, sub, 3), dtype=np.float32),
    }


def test_simclr_demi_forward_terms_and_missing_subview():
    model = _tiny_model()
    batch = _batch()
    model.build_from_batch(batch)
    out = model.forward(batch, training=True)
    terms = ("nce_x_y", "nce_xp_y", "bo_x_xp", "bo_xp_x")
    assert float(out["loss"]) == pytest.approx(sum(float(out[t]) for t in terms) + float(out["probe_loss"]), rel=1e-5)
    # 2N - 1 = 15 candidates per anchor: near-chance losses start near log 15.
    for t in terms:
        assert 0.5 * math.log(15) < float(out[t]) < 2 * math.log(15)
    del batch["x_sub"]
    with pytest.raises(ValueError, match="x_sub"):
        model.forward(batch)
    (encoder, spec), = model.export_endpoints().values()
    assert spec[0].shape.as_list() == [None, 16, 16, 3]


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_step_keeps_float32_losses(policy):
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = _tiny_model()
        optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
        if policy == "mixed_float16":
            # A small initial scale: the default 2**15 overflows float16 on this tiny model
            # for several steps, each skipped (dynamic loss scaling), before one updates.
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=8.0)
        model.compile(optimizer=optimizer)
        batch = _batch(n=4, size=8, sub=4)
        model.build_from_batch(batch)
        optimizer.build(model.trainable_variables)
        before = [w.numpy().copy() for w in model.backbone.trainable_weights]
        out = model.train_step(batch)
        assert model.backbone.compute_dtype != "float32"
        assert all(value.dtype == tf.float32 for value in out.values())
        assert np.isfinite(float(out["loss"]))
        moved = max(float(np.max(np.abs(a - b.numpy()))) for a, b in zip(before, model.backbone.trainable_weights))
        assert moved > 0
    finally:
        keras.mixed_precision.set_global_policy("float32")


# With 2 logical CPUs: the same tiny SimCLR+DEMI model on one device and on
# MirroredStrategy(cpu:0, cpu:1) (synchronised BN, projections gathered), same weights,
# same global batch: losses and summed gradients of loss / R must agree.
EQUIVALENCE_SCRIPT = textwrap.dedent(
    """
    import json
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    import ml_collections
    from tfmi import distribute
    from tfmi.models import build_model

    CONFIG = ml_collections.ConfigDict(dict(
        name="simclr", method="simclr_demi", temperature=0.5, proj_dim=8, proj_hidden=16, num_classes=10,
        backbone=dict(name="resnet", depth=18, variant="cifar", width=4, synchronized_bn=True,
                      zero_init_residual=False),  # else the residual branches get no gradient at step 1
    ))
    rng = np.random.default_rng(0)
    BATCH = {"x": rng.random((8, 16, 16, 3), dtype=np.float32), "y": rng.random((8, 16, 16, 3), dtype=np.float32),
             "label": rng.integers(0, 10, 8).astype(np.int32), "x_sub": rng.random((8, 8, 8, 3), dtype=np.float32)}

    def build(strategy):
        with strategy.scope():
            keras.utils.set_random_seed(1)
            model = build_model(CONFIG)
            model.build_from_batch(BATCH)
        return model

    def run(strategy, model):
        replicas = strategy.num_replicas_in_sync
        data = distribute.distribute_global_batches(strategy, lambda: tf.data.Dataset.from_tensors(BATCH).repeat())

        @tf.function
        def step(batch):
            def replica_fn(local):
                with tf.GradientTape() as tape:
                    out = model.forward(local, training=True)
                    scaled = out["loss"] / replicas
                return out, tape.gradient(scaled, model.trainable_variables)
            out, grads = strategy.run(replica_fn, args=(batch,))
            return ({k: strategy.experimental_local_results(v) for k, v in out.items()},
                    [strategy.reduce("SUM", g, axis=None) for g in grads])

        out, grads = step(next(iter(data)))
        return {k: [float(x) for x in v] for k, v in out.items()}, [g.numpy() for g in grads]

    single, mirrored = tf.distribute.get_strategy(), tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    one, two = build(single), build(mirrored)
    two.set_weights(one.get_weights())
    out_one, g_one = run(single, one)
    out_two, g_two = run(mirrored, two)
    print("RESULT " + json.dumps({
        "replicas": mirrored.num_replicas_in_sync, "one": out_one, "two": out_two,
        "grad_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(g_one, g_two)),
        "grad_scale": max(float(np.max(np.abs(a))) for a in g_one),
        "zero_grads": sum(int(not np.any(a)) for a in g_one),
    }))
    """
)


@pytest.mark.slow  # about 40 s alone, minutes on a loaded CPU (two traced ResNet steps)
def test_two_replicas_give_the_one_device_loss_and_gradients(tmp_path, helpers):
    script = tmp_path / "equivalence.py"
    script.write_text(EQUIVALENCE_SCRIPT)
    result = subprocess.run([sys.executable, str(script)], cwd=helpers.REPO_ROOT, env=helpers.trainer_env(),
                            capture_output=True, text=True, timeout=300)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-5000:]
    r = json.loads(lines[-1][len("RESULT "):])
    assert r["replicas"] == 2
    for name, (value,) in r["one"].items():
        assert len(r["two"][name]) == 2
        for replica_value in r["two"][name]:
            assert replica_value == pytest.approx(value, rel=1e-5, abs=1e-6), name
    assert r["zero_grads"] == 0, "a variable got no gradient: the comparison would be vacuous"
    assert r["grad_diff"] < 1e-4 * max(r["grad_scale"], 1.0)


@pytest.mark.slow
def test_trainer_runlocal_trains_resumes_exports_and_evaluates(tmp_path, helpers):
    """cifar_simclr_demi:runlocal,synthetic through python -m trainers.train: 6 steps,
    a second command with total_steps=8 resumes from step 6, the export's features feed
    a linear classifier."""
    config = helpers.REPO_ROOT / "configs" / "cifar_simclr_demi.py"
    workdir = tmp_path / "run"
    first = helpers.run_trainer(f"{config}:runlocal,synthetic", workdir)
    assert first.returncode == 0, first.stderr[-4000:]
    assert helpers.checkpoint_steps(workdir) == [6]
    records = helpers.read_metrics(workdir)
    for key in ("loss", "nce_x_y", "nce_xp_y", "bo_x_xp", "bo_xp_x", "nt_xent", "probe_acc"):
        assert np.isfinite(records[-1][f"train/{key}"]), key
    second = helpers.run_trainer(f"{config}:runlocal,synthetic", workdir, {"total_steps": 8})
    assert second.returncode == 0, second.stderr[-4000:]
    assert "Resumed from" in second.stderr and "at step 6" in second.stderr
    assert helpers.checkpoint_steps(workdir) == [8]

    from tfmi.evaluation import linear_eval as le

    encoder = le.load_encoder(workdir, endpoint="encoder")
    assert encoder.input_shape == (32, 32, 3)
    rng = np.random.default_rng(0)

    def images(n):
        labels = rng.integers(0, 2, n)
        pixels = (0.3 * rng.random((n, 32, 32, 3)) + 0.5 * labels[:, None, None, None]).astype(np.float32)
        return tf.data.Dataset.from_tensor_slices((pixels, labels))

    result = le.evaluate_images(encoder, images(40), images(20), classifier="sklearn", scaler="standard", tol=1e-3)
    assert result.feature_dim == 64 and result.accuracy > 0.9


@pytest.mark.slow
def test_runlocal_on_mock_cifar10_and_linear_eval_tool(tmp_path):
    """The real cifar10_views pipeline (tfds mock data) through the trainer in-process,
    then tools/linear_eval.py --dataset cifar10 on the export (mock data again)."""
    tfds = pytest.importorskip("tensorflow_datasets")
    from tfmi.config_utils import load_config
    from tools import linear_eval as tool
    from trainers import train as trainer

    workdir = tmp_path / "run"
    config = load_config(f"{REPO_CONFIGS}/cifar_simclr_demi.py:runlocal")
    with tfds.testing.mock_data(num_examples=64):
        metrics = trainer.train(config, str(workdir))
        assert np.isfinite(metrics["loss"]) and "bo_xp_x" in metrics
        results = tool.run(tool.parse_args(
            ["--workdir", str(workdir), "--num_train", "40", "--num_test", "20", "--scaler", "standard"]
        ))
    assert results["dataset"] == "cifar10"
    assert results["results"]["encoder"]["feature_dim"] == 64
    assert (workdir / "linear_eval_cifar10.json").exists()


@pytest.mark.slow
def test_jit_compiled_step_equals_the_eager_step():
    """config.jit_compile: the XLA-compiled train_step gives the loss of the plain one."""
    batch = _batch(n=4, size=8, sub=4)
    losses = []
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        model = _tiny_model()
        optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
        model.compile(optimizer=optimizer)
        model.build_from_batch(batch)
        optimizer.build(model.trainable_variables)
        step = tf.function(model.train_step, jit_compile=jit)
        losses.append([float(step(batch)["loss"]) for _ in range(2)])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)


def test_trainer_refuses_an_unknown_precision():
    from tfmi.config_utils import load_config
    from trainers import train as trainer

    config = load_config(f"{REPO_CONFIGS}/cifar_simclr_demi.py:runlocal,synthetic")
    trainer.validate_config(config)
    config.mixed_precision = "float16"
    with pytest.raises(trainer.UserError, match="mixed_precision"):
        trainer.validate_config(config)
    config.mixed_precision = "mixed_bfloat16"
    trainer.validate_config(config)
