"""Models, data and configs of Tschannen et al. (2020): encoders built from configs, the
adversarial invertible encoder (App. B), the K-pair / triplet losses (Sec. 4, App. C),
the non-i.i.d. Gaussian task (App. E) and Jacobian-conditioning logs (Figures 2c, 5).

Every config trains a few steps of its ``runlocal`` version through the trainer and
exports its encoders; the rest compares against NumPy and hand-derived updates.
"""

import json
import math
from pathlib import Path

import keras
import ml_collections
import numpy as np
import pytest
import tensorflow as tf

from tfmi import bounds
from tfmi.config_utils import load_config
from tfmi.data import build_dataset, gaussians, mnist_halves, tfds_utils
from tfmi.models import AdversarialModel, Bound, InfoMaxModel, build_model
from tfmi.workdir import EXPORT, METRICS
from trainers import train as trainer

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = REPO_ROOT / "configs"


def _config(spec, **overrides):
    return load_config(f"{CONFIGS}/{spec}", overrides)


def _records(workdir):
    return [json.loads(line) for line in (Path(workdir) / METRICS).read_text().splitlines()]


def _serve(workdir, endpoint, x):
    loaded = tf.saved_model.load(str(Path(workdir) / EXPORT / endpoint))
    return loaded.serve(tf.constant(x, tf.float32)).numpy()


@pytest.fixture
def mock_cifar10():
    """tfds mock CIFAR-10 (no download); the loader's cache is cleared afterwards."""
    tfds = pytest.importorskip("tensorflow_datasets")
    tfds_utils.load_images.cache_clear()
    with tfds.testing.mock_data(num_examples=64):
        yield
    tfds_utils.load_images.cache_clear()


# --- every config: builds, trains a few steps, exports --------------------------------

MNIST_RUNS = {
    "mnist_invertible.py:nce,runlocal": 392,
    "mnist_invertible.py:nwj,critic=concat,runlocal": 392,
    "mnist_noninvertible.py:nwj,runlocal": 392,
    "mnist_critic_capacity.py:separable,bound=nwj,runlocal": 16,
    "mnist_encoder_arch.py:convnet,t=4,runlocal": 16,
}


@pytest.mark.parametrize("spec", sorted(MNIST_RUNS))
def test_mnist_config_trains_and_exports_both_encoders(spec, tmp_path):
    config = _config(spec)
    assert config.data.source == "auto" and config.batch_size == 16
    metrics = trainer.train(config, str(tmp_path))
    assert np.isfinite(metrics["loss"]) and np.isfinite(metrics["mi"])
    assert sorted(p.name for p in (tmp_path / EXPORT).iterdir()) == ["encoder_x", "encoder_y"]
    top = mnist_halves.load_mnist_halves("test").top[:5]
    for endpoint in ("encoder_x", "encoder_y"):
        codes = _serve(tmp_path, endpoint, top)
        assert codes.shape == (5, MNIST_RUNS[spec]) and np.all(np.isfinite(codes))


def test_invertible_export_is_the_identity_at_initialisation(tmp_path):
    # The notebook's 1e-4 init: after a few steps at lr 1e-4, g_1 is still ~ the identity.
    config = _config("mnist_invertible.py:runlocal")
    trainer.train(config, str(tmp_path))
    top = mnist_halves.load_mnist_halves("test").top[:5]
    np.testing.assert_allclose(_serve(tmp_path, "encoder_x", top), top, atol=5e-3)


def test_encoder_arch_config_matches_the_target(tmp_path):
    """L_t = |I_EST - t| with t = 4 far above a fresh estimate: loss = t - mi exactly."""
    config = _config("mnist_encoder_arch.py:mlp,bound=nwj,t=4,runlocal")
    assert config.model.target_mi == 4.0 and config.model.bound.name == "nwj"
    trainer.train(config, str(tmp_path))
    for record in _records(tmp_path):
        assert record["train/mi"] < 4.0
        assert record["train/loss"] == pytest.approx(4.0 - record["train/mi"], rel=1e-5)


def test_cifar10_config_trains_on_the_halves(tmp_path, mock_cifar10):
    config = _config("cifar10_halves.py:encoder,encoder=convnet,t=2,runlocal")
    assert config.optimizer.learning_rate == 1e-5 and config.data.half_rows == 16
    assert tuple(config.model.encoder_x.image_shape) == (16, 32, 3)
    metrics = trainer.train(config, str(tmp_path))
    assert np.isfinite(metrics["loss"])
    codes = _serve(tmp_path, "encoder_x", np.zeros((3, 1536), np.float32))
    assert codes.shape == (3, 16)


def test_cifar10_config_paper_settings():
    critic = _config("cifar10_halves.py:critic,critic=separable,bound=nwj")
    assert critic.total_steps == 63000 and critic.batch_size == 128  # 3 x 21k (App. G)
    assert critic.model.encoder_x.name == "mlp" and critic.model.encoder_x.input_dim == 1536
    assert dict(critic.model.critic) == {
        "name": "separable", "hidden_units": (100,), "embed_dim": 100, "activation": "relu"
    }
    assert critic.model.target_mi is None
    narrow = _config("cifar10_halves.py:encoder,encoder=mlp,half_rows=14,t=4")
    assert narrow.model.encoder_x.input_dim == 32 * 14 * 3 and narrow.data.half_rows == 14
    assert narrow.model.target_mi == 4.0
    with pytest.raises(ValueError, match="variant"):
        _config("cifar10_halves.py:supervised")


def test_paper_settings_of_the_mnist_configs():
    invertible = _config("mnist_invertible.py")
    assert (invertible.total_steps, invertible.batch_size) == (21000, 128)
    assert invertible.optimizer.learning_rate == 1e-4
    assert invertible.model.encoder_x.num_couplings == 30
    assert tuple(invertible.model.encoder_x.hidden_units) == (512, 512)
    assert invertible.model.encoder_x.seed != invertible.model.encoder_y.seed
    assert invertible.model.bound.name == "infonce" and invertible.model.critic.name == "bilinear"
    noisy = _config("mnist_noninvertible.py")
    assert noisy.data.noise_std == 0.05 and noisy.model.encoder_x.name == "residual_mlp"
    assert (noisy.model.log_condition_every, noisy.model.condition_points) == (1000, 128)
    concat = _config("mnist_critic_capacity.py:concat")
    assert dict(concat.model.critic) == {"name": "concat", "hidden_units": (200,), "activation": "relu"}
    assert _config("mnist_encoder_arch.py:mlp").model.target_mi == 2.0
    adversarial = _config("mnist_adversarial.py")
    assert adversarial.model.warmup_steps == 1000 and adversarial.model.probe_steps == 10
    assert adversarial.optimizer.learning_rate == 1e-4
    assert adversarial.model.encoder_learning_rate == 1e-6
    assert adversarial.total_steps == 1000 + 11 * 4000
    with pytest.raises(ValueError, match="Unknown config argument"):
        _config("mnist_invertible.py:bogus=1")


def test_infomax_builder_takes_encoder_blocks():
    config = ml_collections.ConfigDict(
        dict(
            name="infomax",
            encoder_x={"name": "mlp", "input_dim": 6, "hidden_units": (5,), "output_dim": 3},
            encoder_y=None,
            critic={"name": "bilinear"},
            bound={"name": "nwj"},
            target_mi=None,
        )
    )
    model = build_model(config)
    assert model.encoder_x.output_dim == 3 and model.encoder_y is None
    model.build_from_batch({"x": tf.zeros([4, 6]), "y": tf.zeros([4, 2])})
    assert model.critic.kernel.shape == (3, 2)
    assert list(model.export_endpoints()) == ["encoder_x"]
    config.encoder_x = {"input_dim": 6}
    with pytest.raises(ValueError, match="needs a 'name'"):
        build_model(config)
    config.encoder_x = {"name": "mlp", "width": 6}
    with pytest.raises(ValueError, match="Bad arguments for encoder 'mlp'"):
        build_model(config)


# --- condition numbers of g_1 during training (Figures 2c, 5) ------------------------


def test_condition_numbers_appear_in_metrics_jsonl(tmp_path):
    config = _config("mnist_noninvertible.py:runlocal")
    assert config.model.log_condition_every == 3 and config.model.condition_points == 4
    trainer.train(config, str(tmp_path))
    records = _records(tmp_path)
    names = [f"jacobian/log_condition_p{p}" for p in (0, 20, 40, 60, 80, 100)]
    logged = [r for r in records if names[0] in r]
    assert [r["step"] for r in logged] == [0, 3, 6]
    for record in logged:
        values = [record[name] for name in names]
        assert values == sorted(values) and values[0] >= 0.0
    # Near the identity at initialisation: kappa ~ 1.
    assert logged[0][names[-1]] < 0.5
    events = list(tmp_path.glob("events.out.tfevents.*"))
    assert events, "no TensorBoard event file"


def test_condition_metrics_of_a_linear_encoder_match_numpy():
    """g(x) = x A has the Jacobian A^T everywhere: every percentile is log cond(A)."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 5)).astype(np.float32)
    inputs = keras.Input((5,))
    dense = keras.layers.Dense(5, use_bias=False)
    encoder = keras.Model(inputs, dense(inputs))
    dense.kernel.assign(a)
    model = InfoMaxModel("bilinear", "infonce", encoder_x=encoder, log_condition_every=5, condition_points=3)
    model.build_from_batch({"x": tf.constant(rng.normal(size=(8, 5)), tf.float32), "y": tf.zeros([8, 2])})
    assert model._condition_inputs.shape == (3, 5)
    expected = math.log(np.linalg.cond(a.astype(np.float64)))
    first = model.periodic_metrics(0)
    assert len(first) == 6
    for value in first.values():
        assert value == pytest.approx(expected, rel=1e-4)
    # Due at the first call at or after each multiple of 5.
    due = [bool(model.periodic_metrics(step)) for step in (3, 5, 6, 12, 14, 15)]
    assert due == [False, True, False, True, False, True]


def test_condition_logging_needs_an_encoder_and_is_off_by_default():
    with pytest.raises(ValueError, match="needs an encoder_x"):
        InfoMaxModel("bilinear", log_condition_every=10)
    model = InfoMaxModel("bilinear")
    model.build_from_batch({"x": tf.zeros([4, 3]), "y": tf.zeros([4, 3])})
    assert model.periodic_metrics(0) == {}


# --- K-pair and triplet losses (Sec. 4, App. C) ----------------------------------------


def _numpy_kpair(scores):
    """Eq. (5) as written: 1/K sum_i log(1 + sum_{j != i} exp(f_ij - f_ii))."""
    k = scores.shape[0]
    total = 0.0
    for i in range(k):
        total += math.log(1.0 + sum(math.exp(scores[i, j] - scores[i, i]) for j in range(k) if j != i))
    return total / k


def _numpy_triplet(scores, margin):
    k = scores.shape[0]
    hinges = [max(0.0, margin - scores[i, i] + scores[i, j]) for i in range(k) for j in range(k) if j != i]
    return sum(hinges) / len(hinges)


@pytest.mark.parametrize("k,scale", [(2, 1.0), (5, 3.0), (16, 0.5)])
def test_infonce_is_log_k_minus_the_kpair_loss(k, scale):
    """App. C: I_NCE = log K - L_K-pair-mc, against Eq. (5) written out in NumPy."""
    scores = np.random.default_rng(k).normal(scale=scale, size=(k, k))
    kpair = float(bounds.kpair_loss(tf.constant(scores)))
    assert kpair == pytest.approx(_numpy_kpair(scores), rel=1e-10)
    assert float(bounds.infonce(tf.constant(scores))) == pytest.approx(math.log(k) - kpair, rel=1e-10, abs=1e-12)
    assert kpair >= 0.0


def test_kpair_gradient_is_minus_the_infonce_gradient_and_stable():
    scores = tf.Variable(np.random.default_rng(1).normal(scale=50.0, size=(6, 6)))
    with tf.GradientTape(persistent=True) as tape:
        kpair = bounds.kpair_loss(scores)
        nce = bounds.infonce(scores)
    np.testing.assert_allclose(tape.gradient(kpair, scores), -tape.gradient(nce, scores), atol=1e-12)
    assert np.isfinite(float(kpair))


def test_kpair_for_two_is_the_soft_margin_triplet_loss():
    scores = np.array([[0.3, 1.2], [-0.4, 0.9]])
    expected = np.mean([np.log1p(np.exp(1.2 - 0.3)), np.log1p(np.exp(-0.4 - 0.9))])
    assert float(bounds.kpair_loss(scores)) == pytest.approx(expected, rel=1e-12)


def test_triplet_loss_matches_numpy():
    scores = np.random.default_rng(3).normal(size=(7, 7))
    for margin in (0.0, 0.5, 2.0):
        assert float(bounds.triplet_loss(tf.constant(scores), margin)) == pytest.approx(
            _numpy_triplet(scores, margin), rel=1e-10, abs=1e-12
        )
    # Zero once every positive outscores its row's negatives by the margin.
    assert float(bounds.triplet_loss(np.eye(4) * 3.0, margin=2.0)) == 0.0
    with pytest.raises(ValueError, match="margin"):
        bounds.triplet_loss(scores, margin=-1.0)


def test_kpair_bound_trains_infomax_and_logs_infonce_beside_it():
    """With bound "kpair" the model's "mi" is -L; bound_infonce = log B - L beside it."""
    rng = np.random.default_rng(0)
    batch = {"x": tf.constant(rng.normal(size=(8, 3)), tf.float32)}
    batch["y"] = batch["x"] + 0.1 * tf.constant(rng.normal(size=(8, 3)), tf.float32)
    for name in ("kpair", "triplet"):
        model = InfoMaxModel("bilinear", Bound(name, **({"margin": 0.5} if name == "triplet" else {})))
        model.build_from_batch(batch)
        outputs = model.forward(batch)
        scores = model.critic(batch["x"], batch["y"]).numpy().astype(np.float64)
        if name == "kpair":
            assert float(outputs["loss"]) == pytest.approx(_numpy_kpair(scores), rel=1e-5)
            assert float(outputs["bound_infonce"]) == pytest.approx(
                math.log(8) + float(outputs["mi"]), rel=1e-5
            )
        else:
            assert float(outputs["loss"]) == pytest.approx(_numpy_triplet(scores, 0.5), rel=1e-5)
    assert Bound("triplet", margin=0.5).get_config()["margin"] == 0.5
    with pytest.raises(ValueError, match="kpair"):
        Bound("npair")


# --- non-i.i.d. Gaussian pairs (Sec. 4, App. E) --------------------------------------


def test_true_mi_of_the_shared_offset_task_against_monte_carlo():
    """The closed form of App. E against a NumPy Monte Carlo of E[log p(x,y)/(p(x)p(y))]."""
    sigma = np.array(gaussians.NONIID_SIGMA_Z) + np.array(gaussians.NONIID_SIGMA_EPS)
    true_mi = gaussians.shared_offset_mi()
    # Independent closed form: 1/2 log(S11 S22 / det S).
    assert true_mi == pytest.approx(0.5 * math.log(sigma[0, 0] * sigma[1, 1] / np.linalg.det(sigma)), rel=1e-12)
    assert true_mi == pytest.approx(-0.5 * math.log(0.96), rel=1e-12)  # rho = 0.4 / 2

    rng = np.random.default_rng(0)
    n = 400_000
    z = rng.multivariate_normal([0, 0], gaussians.NONIID_SIGMA_Z, size=n)
    pairs = z + rng.multivariate_normal([0, 0], gaussians.NONIID_SIGMA_EPS, size=n)
    inverse = np.linalg.inv(sigma)
    log_joint = -0.5 * np.einsum("ni,ij,nj->n", pairs, inverse, pairs) - 0.5 * math.log(np.linalg.det(sigma))
    log_marginals = -0.5 * pairs[:, 0] ** 2 / sigma[0, 0] - 0.5 * pairs[:, 1] ** 2 / sigma[1, 1]
    log_marginals -= 0.5 * math.log(sigma[0, 0] * sigma[1, 1])
    ratios = log_joint - log_marginals
    assert np.mean(ratios) == pytest.approx(true_mi, abs=4 * np.std(ratios) / math.sqrt(n))


def test_shared_offset_batches_share_z_and_have_the_right_marginal():
    dataset = gaussians.shared_offset_dataset(64, seed=5)
    batches = [b for b in dataset.take(1500).as_numpy_iterator()]
    pairs = np.stack([np.concatenate([b["x"], b["y"]], axis=1) for b in batches])  # [T, B, 2]
    assert pairs.shape == (1500, 64, 2)
    assert all(np.allclose(b["true_mi"], gaussians.shared_offset_mi()) for b in batches[:3])
    sigma = np.array(gaussians.NONIID_SIGMA_Z) + np.array(gaussians.NONIID_SIGMA_EPS)
    np.testing.assert_allclose(np.cov(pairs.reshape(-1, 2).T), sigma, atol=0.12)
    # Around the batch mean only eps varies: the within-batch covariance is Sigma_eps.
    centred = pairs - pairs.mean(axis=1, keepdims=True)
    within = np.einsum("tbi,tbj->ij", centred, centred) / (1500 * 63)
    np.testing.assert_allclose(within, gaussians.NONIID_SIGMA_EPS, atol=0.03)
    # i.i.d. batches: the batch means spread like sigma / sqrt(B), not like Sigma_Z.
    iid = [b for b in gaussians.shared_offset_dataset(64, iid=True, seed=5).take(300).as_numpy_iterator()]
    means = np.stack([b["x"].mean() for b in iid])
    assert np.var(means) == pytest.approx(2.0 / 64, rel=0.25)
    # Resuming continues the same stream.
    resumed = next(gaussians.shared_offset_dataset(64, seed=5, start_step=7).as_numpy_iterator())
    np.testing.assert_array_equal(resumed["x"], batches[7]["x"])


def test_noniid_dataset_is_registered_and_rejects_bad_covariances():
    config = ml_collections.ConfigDict(dict(name="noniid_gaussian", sigma_z=((1.0, 0.0), (0.0, 1.0)),
                                            sigma_eps=((1.0, 0.5), (0.5, 1.0)), iid=True))
    batch = next(iter(build_dataset(config, 4)))
    assert batch["x"].shape == (4, 1) and batch["y"].shape == (4, 1)
    assert float(batch["true_mi"][0]) == pytest.approx(-0.5 * math.log(1 - 0.25**2), rel=1e-6)
    with pytest.raises(ValueError, match="positive definite"):
        gaussians.shared_offset_dataset(4, sigma_eps=((1.0, 2.0), (2.0, 1.0)))
    with pytest.raises(ValueError, match="symmetric 2 x 2"):
        gaussians.gaussian_pair_mi(np.eye(3))


def test_noniid_estimates_exceed_the_true_mi_and_iid_ones_do_not(tmp_path):
    """Fig. 4c in miniature: 600 steps at a 10x learning rate, batch 128 (measured: about
    0.17 nats non-i.i.d., 0.018 i.i.d., against 0.0204)."""
    final = {}
    for iid in (False, True):
        config = _config(
            f"noniid_gaussian.py:nce{',iid' if iid else ''}",
            total_steps=600, steps_per_loop=100, log_every=100, checkpoint_every=600,
            histogram_every=600, export=False,
        )
        config.optimizer.learning_rate = 1e-3
        trainer.train(config, str(tmp_path / str(iid)))
        records = _records(tmp_path / str(iid))
        final[iid] = np.mean([r["train/mi"] for r in records[-2:]])
        true_mi = records[-1]["train/true_mi"]
    assert true_mi == pytest.approx(0.0204, abs=1e-4)
    assert final[False] > true_mi + 0.05, final
    assert final[True] < true_mi + 0.015, final


def test_noniid_config_runlocal_exports_the_critic(tmp_path):
    config = _config("noniid_gaussian.py:nwj,runlocal")
    assert config.model.critic.hidden_units == (10,) * 5 and config.model.bound.name == "nwj"
    trainer.train(config, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path / EXPORT / "critic"))
    assert loaded.serve(tf.zeros([3, 1]), tf.zeros([3, 1])).shape == (3, 3)


# --- the adversarial invertible encoder (Sec. 3.1, App. B) ---------------------------


def _linear_encoder(dim, out, kernel):
    inputs = keras.Input((dim,))
    dense = keras.layers.Dense(out, use_bias=False, name="g1")
    model = keras.Model(inputs, dense(inputs))
    dense.kernel.assign(kernel)
    return model


def _adversarial(encoder, warmup=3, probe_steps=2, probe_lr=1e-2, encoder_lr=1e-2):
    model = AdversarialModel(encoder, num_classes=3, warmup_steps=warmup, probe_steps=probe_steps,
                             encoder_learning_rate=encoder_lr)
    optimizer = keras.optimizers.Adam(probe_lr)
    model.compile(optimizer=optimizer)
    return model


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_adversarial_update_order_follows_warmup_and_ratio():
    rng = np.random.default_rng(0)
    encoder = _linear_encoder(4, 4, np.eye(4, dtype=np.float32))
    model = _adversarial(encoder, warmup=3, probe_steps=2)
    batch = {"x": tf.constant(rng.normal(size=(8, 4)), tf.float32), "label": tf.constant(rng.integers(0, 3, 8))}
    model.build_from_batch(batch)
    model.optimizer.build(model.trainable_variables)
    step = tf.function(model.train_step)
    updated = []
    for _ in range(12):
        probe_before = model.probe.kernel.numpy().copy()
        encoder_before = encoder.trainable_variables[0].numpy().copy()
        step(batch)
        probe_moved = not np.array_equal(probe_before, model.probe.kernel.numpy())
        encoder_moved = not np.array_equal(encoder_before, encoder.trainable_variables[0].numpy())
        assert probe_moved != encoder_moved  # exactly one player per step
        updated.append("E" if encoder_moved else "P")
    # 3 warm-up probe steps, then (2 probe, 1 encoder) repeated.
    assert "".join(updated) == "PPP" + "PPE" * 3
    assert int(model.optimizer.iterations) == 12  # the trainer's step count
    assert int(model.encoder_optimizer.iterations) == 3
    assert float(model.trackers["encoder_update"].result()) == pytest.approx(3 / 12)
    assert [bool(model.is_encoder_step(s)) for s in range(3, 9)] == [False, False, True] * 2
    # Encoder updates done by the first s steps, as the checkpoint evaluation reports them.
    assert [model.encoder_iterations(s) for s in range(13)] == [
        updated[:s].count("E") for s in range(13)
    ]


def test_adversarial_updates_are_one_adam_step_on_each_players_loss():
    """Adam's first step moves every parameter by -lr * sign(gradient): the probe's on
    the cross-entropy with the labels, the encoder's on the cross-entropy with the
    uniform vector, gradients derived by hand in NumPy for g(x) = x A, l = g(x) W + b."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 4)).astype(np.float32)
    x = rng.normal(size=(16, 4)).astype(np.float32)
    labels = rng.integers(0, 3, 16)
    encoder = _linear_encoder(4, 4, a)
    model = _adversarial(encoder, warmup=1, probe_steps=0, probe_lr=1e-3, encoder_lr=1e-3)
    batch = {"x": tf.constant(x), "label": tf.constant(labels)}
    model.build_from_batch(batch)
    model.optimizer.build(model.trainable_variables)

    w, b = model.probe.kernel.numpy().astype(np.float64), model.probe.bias.numpy().astype(np.float64)
    z = x.astype(np.float64) @ a
    p = _softmax(z @ w + b)
    grad_w = z.T @ (p - np.eye(3)[labels]) / 16
    model.train_step(batch)  # step 0: warm-up, the probe
    np.testing.assert_allclose(model.probe.kernel.numpy() - w, -1e-3 * np.sign(grad_w), rtol=1e-3, atol=1e-6)
    np.testing.assert_array_equal(encoder.trainable_variables[0].numpy(), a)

    w = model.probe.kernel.numpy().astype(np.float64)
    b = model.probe.bias.numpy().astype(np.float64)
    p = _softmax(z @ w + b)
    grad_a = x.T.astype(np.float64) @ ((p - 1.0 / 3) @ w.T) / 16
    outputs = model.forward(batch)
    logits = z @ w + b
    expected_loss = np.mean(np.log(np.exp(logits).sum(axis=1)) - logits.mean(axis=1))
    assert float(outputs["encoder_loss"]) == pytest.approx(expected_loss, rel=1e-5)
    model.train_step(batch)  # step 1: the encoder (probe_steps = 0)
    np.testing.assert_allclose(encoder.trainable_variables[0].numpy() - a, -1e-3 * np.sign(grad_a), rtol=1e-3,
                               atol=1e-6)
    np.testing.assert_allclose(model.probe.kernel.numpy(), w, rtol=0, atol=0)


def test_adversarial_config_trains_exports_and_resumes(tmp_path):
    """A run stopped at step 4 and resumed ends like one uninterrupted run: the encoder's
    own Adam state is in the checkpoint. Its export is g_1 as encoder_x."""
    overrides = {"model.encoder_learning_rate": 0.05, "log_every": 4, "steps_per_loop": 4, "checkpoint_every": 4}
    whole = _config("mnist_adversarial.py:runlocal", **overrides)
    assert (whole.model.warmup_steps, whole.model.probe_steps, whole.total_steps) == (2, 1, 8)
    metrics = trainer.train(whole, str(tmp_path / "whole"))
    assert metrics["encoder_update"] == pytest.approx(2 / 4)  # steps 4..7: P E P E
    assert 0.0 <= metrics["probe_accuracy"] <= 1.0 and metrics["loss"] == metrics["probe_loss"]
    first = _config("mnist_adversarial.py:runlocal", **overrides, total_steps=4)
    trainer.train(first, str(tmp_path / "resumed"))
    trainer.train(_config("mnist_adversarial.py:runlocal", **overrides), str(tmp_path / "resumed"))
    a, b = _records(tmp_path / "whole"), _records(tmp_path / "resumed")
    assert [r["step"] for r in a] == [r["step"] for r in b] == [4, 8]
    for key in ("train/probe_loss", "train/encoder_loss", "train/probe_accuracy"):
        assert b[-1][key] == pytest.approx(a[-1][key], rel=1e-5, abs=1e-6), key
    assert sorted(p.name for p in (tmp_path / "whole" / EXPORT).iterdir()) == ["encoder_x"]
    top = mnist_halves.load_mnist_halves("test").top[:3]
    assert _serve(tmp_path / "whole", "encoder_x", top).shape == (3, 392)


def test_adversarial_with_an_mi_term_logs_it(tmp_path):
    config = _config("mnist_adversarial.py:mi_weight=0.5,runlocal")
    assert config.model.critic.name == "bilinear" and config.model.encoder_y.seed == 1
    metrics = trainer.train(config, str(tmp_path))
    assert np.isfinite(metrics["mi"]) and metrics["mi"] <= math.log(16) + 1e-5
    assert sorted(p.name for p in (tmp_path / EXPORT).iterdir()) == ["encoder_x", "encoder_y"]


def test_adversarial_model_rejects_bad_arguments():
    encoder = _linear_encoder(2, 2, np.eye(2, dtype=np.float32))
    with pytest.raises(ValueError, match="probe_steps"):
        AdversarialModel(encoder, probe_steps=-1)
    with pytest.raises(ValueError, match="encoder_learning_rate"):
        AdversarialModel(encoder, encoder_learning_rate=0.0)


# Runs the adversarial runlocal config under MirroredStrategy on 2 logical CPUs and on
# one device, each in a fresh process, and compares their metrics.
@pytest.mark.slow
def test_adversarial_two_replicas_equal_one(tmp_path, helpers):
    runs = {}
    # The probe learns by SGD (see helpers.REPLICA_RUN); the encoder's own Adam moves only
    # at the 2 encoder steps of the run.
    sgd = {"optimizer.name": "sgd"}
    for name, overrides in (("one", sgd), ("two", {**sgd, "strategy": "mirrored", "cpu_devices": 2})):
        workdir = tmp_path / name
        result = helpers.run_trainer(f"{CONFIGS}/mnist_adversarial.py:runlocal", workdir, overrides, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        runs[name] = _records(workdir)
    helpers.assert_metrics_close(runs["two"], runs["one"], rtol=1e-4, atol=1e-5)
