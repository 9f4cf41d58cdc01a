"""The DEMI synthetic model: wiring of each method's objective, config, trainer run."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmi import bounds
from tfmi.config_utils import load_config
from tfmi.data import demi_synthetic
from tfmi.models import DecomposedEstimatorModel
from tfmi.workdir import EXPORT

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def batch():
    task = demi_synthetic.make_task(5.0, dim=4, seed=1)
    return next(iter(demi_synthetic.demi_dataset(task, 8, 7, seed=3)))


def build(method, batch):
    keras.utils.set_random_seed(0)
    model = DecomposedEstimatorModel(method, hidden_units=16, embed_dim=8)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.build_from_batch(batch)
    model.optimizer.build(model.trainable_variables)
    return model


def reference_estimates(model, batch):
    """The estimates recomputed from the encoders with tfmi.bounds, independently of forward."""
    x, xp, y, y_cond = batch["x"], batch["xprime"], batch["y"], batch["y_cond"]
    joint = model.f(tf.concat([xp, x], -1))
    subview = model.f(tf.concat([xp, tf.zeros_like(x)], -1))
    gy = model.g(y)
    psi = tf.matmul(subview, gy, transpose_b=True).numpy()
    phi = tf.matmul(joint, gy, transpose_b=True).numpy()
    g_cond = model.g(tf.reshape(y_cond, [-1, y_cond.shape[-1]])).numpy().reshape(*y_cond.shape[:2], -1)
    phi_cond = np.einsum("be,bke->bk", joint.numpy(), g_cond)
    off = ~np.eye(len(phi), dtype=bool)
    phi_neg, psi_neg = phi[off].reshape(len(phi), -1), psi[off].reshape(len(psi), -1)
    nce_xprime = float(bounds.infonce(psi))
    return {
        "mi_infonce": float(bounds.infonce(phi)),
        "nce_xprime": nce_xprime,
        "cnce": float(bounds.cnce(np.diag(phi), phi_cond)),
        "mi_demi": nce_xprime + float(bounds.cnce(np.diag(phi), phi_cond)),
        "mi_nce_is": nce_xprime + float(bounds.importance_sampled(np.diag(phi), phi_neg, psi_neg)),
        "bo": float(bounds.boosted(np.diag(phi), phi_neg, np.diag(psi), psi_neg)),
    }


@pytest.mark.parametrize("method", ["infonce", "demi", "demi_is", "demi_bo", "demi_var"])
def test_forward_matches_the_bounds_and_the_objective(method, batch):
    model = build(method, batch)
    outputs = {k: float(v) for k, v in model.forward(batch).items()}
    expected = reference_estimates(model, batch)
    for name in ("mi_infonce", "nce_xprime", "cnce", "mi_demi", "mi_nce_is"):
        assert outputs[name] == pytest.approx(expected[name], rel=1e-4, abs=1e-5), name
    objective = {
        "infonce": expected["mi_infonce"],
        "demi": expected["mi_demi"],
        "demi_is": expected["mi_nce_is"],
        "demi_bo": expected["nce_xprime"] + expected["bo"],
    }
    if method in objective:
        assert outputs["loss"] == pytest.approx(-objective[method], rel=1e-4, abs=1e-5)
    else:  # the contrastive part uses negatives from q; the proposal's NLL is in the loss
        assert outputs["proposal_nll"] > 0
    assert outputs["mi"] == pytest.approx(outputs["mi_infonce" if method == "infonce" else "mi_demi"])
    assert outputs["true_mi"] == pytest.approx(5.0)


@pytest.mark.parametrize("method", ["demi", "demi_bo", "demi_var"])
def test_training_raises_the_objective(method, batch):
    model = build(method, batch)
    step = tf.function(model.train_step)
    first = float(model.forward(batch)["loss"])
    for _ in range(60):
        step(batch)
    assert float(model.forward(batch)["loss"]) < first


def test_var_proposal_learns_the_conditional_mean(batch):
    model = build("demi_var", batch)
    step = tf.function(model.train_step)
    nll_before = float(model.forward(batch)["proposal_nll"])
    for _ in range(100):
        step(batch)
    assert float(model.forward(batch)["proposal_nll"]) < nll_before


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="Unknown DEMI method 'demi_xx'"):
        DecomposedEstimatorModel("demi_xx")


DEMI_CONFIG = os.path.join(REPO, "configs", "demi_synthetic.py")


def demi_config(arg):
    return load_config(f"{DEMI_CONFIG}:{arg}")


def test_config_splits_the_candidates_between_the_two_terms():
    assert demi_config("infonce,k=64").batch_size == 64
    assert demi_config("demi,k=64").batch_size == 32
    bottom = demi_config("demi_bo,k=64,bottom")
    assert bottom.batch_size == 64 and bottom.figure == "bottom"
    with pytest.raises(ValueError, match="k must be an even number"):
        demi_config("demi,k=7")


def test_trainer_runs_demi_var_and_exports(tmp_path):
    from trainers.train import train

    config = demi_config("demi_var,k=8,mi=5,runlocal")
    config.total_steps = 50
    metrics = train(config, str(tmp_path))
    assert np.isfinite(metrics["loss"]) and metrics["true_mi"] == pytest.approx(5.0)
    f = tf.saved_model.load(str(tmp_path / EXPORT / "f"))
    assert f.serve(tf.zeros([3, 40])).shape == (3, 100)
