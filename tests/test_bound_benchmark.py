"""tfmi.evaluation.bound_benchmark (tools/bench_bounds.py) on tiny inputs: the summary of
per-batch estimates and the accuracy table by hand, the optimal-critic InfoNCE against
NumPy, the analytic FLOP count against the config's layer widths, and the matmul peak's
FLOP rate."""

import math

import numpy as np
import pytest

from tfmi.data import gaussians
from tfmi.evaluation import bound_benchmark as bench


def test_summarize_bias_spread_and_mse_by_hand():
    summary = bench.summarize([1.0, 2.0, 4.0], true_mi=2.0)
    assert summary["mean"] == pytest.approx(7 / 3) and summary["bias"] == pytest.approx(1 / 3)
    # Sample variance (ddof = 1): ((-4/3)^2 + (-1/3)^2 + (5/3)^2) / 2 = 7/3.
    assert summary["variance"] == pytest.approx(7 / 3) and summary["std"] == pytest.approx(math.sqrt(7 / 3))
    assert summary["mse"] == pytest.approx((1 + 0 + 4) / 3)
    assert summary["estimates"] == [1.0, 2.0, 4.0]


def _numpy_infonce_of_the_optimal_critic(x, y, rho):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    d = x.shape[1]
    diff = y[None, :, :] - rho * x[:, None, :]
    scores = -0.5 * d * np.log(1 - rho**2) - (diff**2).sum(-1) / (2 * (1 - rho**2)) + (y**2).sum(-1)[None] / 2
    top = scores.max(axis=1, keepdims=True)
    logsumexp = top[:, 0] + np.log(np.exp(scores - top).sum(axis=1))
    return float(np.mean(np.diag(scores) - logsumexp) + np.log(len(x)))


def test_run_task_trains_and_scores_the_optimal_critic_as_numpy_does():
    dim, mi = 2, 0.5
    batches = bench.eval_batches(16, dim, mi, seed=0, count=3)
    record = bench.run_task("infonce", dim, mi, batches, train_steps=3)
    assert (record["bound"], record["dim"], record["true_mi"]) == ("infonce", dim, mi)
    assert len(record["trained"]["estimates"]) == 3 and np.isfinite(record["trained"]["estimates"]).all()
    rho = float(gaussians.rho_from_mi(mi, dim))
    expected = [_numpy_infonce_of_the_optimal_critic(b["x"], b["y"], rho) for b in batches]
    np.testing.assert_allclose(record["optimal"]["estimates"], expected, rtol=1e-4, atol=1e-4)
    assert max(expected) <= math.log(16)


def test_analytic_flops_count_the_matmuls_of_the_separable_critic():
    batch = bench.sample_batch(8, 3, 1.0, [0, 0])
    model, config = bench.make_model("infonce", batch, total_steps=10)
    assert config.model.critic.hidden_units == (256, 256) and config.model.critic.embed_dim == 32
    tower = 3 * 256 + 256 * 256 + 256 * 32  # multiply-adds per example of one MLP
    assert bench.analytic_step_flops(model, 8) == 3 * 2 * (8 * 2 * tower + 8**2 * 32)


def test_matmul_rate_counts_two_n_cubed_flops_per_matmul():
    rate = bench.matmul_rate(size=32, seconds=0.02, repeats=1)
    assert rate["flops_per_sec"] == pytest.approx(2 * 32**3 * rate["rate"])
    # steps_per_call is scaled from a timed probe call to fill 0.02 s: 1 to 3 where 4
    # matmuls take over 0.023 s (a slow or busy machine), so only >= 1 holds anywhere.
    (call,) = rate["calls"]
    assert rate["steps_per_call"] >= 1 and rate["rate"] == pytest.approx(rate["steps_per_call"] / call["wall"])
    assert 0 < rate["cpu_share"]


def test_accuracy_table_cells():
    def record(bound, mi, bias, std, mse):
        summary = {"bias": bias, "std": std, "mse": mse}
        return {"bound": bound, "dim": 5, "true_mi": mi, "trained": summary, "optimal": dict(summary, mse=mse / 2)}

    records = [record("nwj", 2.0, -0.5, 0.25, 1.0), record("nwj", 4.0, 1.5, 3.0, 3.0)]
    table = bench.accuracy_tables(records, ["nwj"], [5], [2.0, 4.0], 64, 100, 10)
    assert "| nwj | -0.50 / 0.25 | +1.50 / 3.00 |" in table
    # MSE per cell "trained (optimal)", then their means over I: (1 + 3) / 2 and (0.5 + 1.5) / 2.
    assert "| nwj | 1.00 (0.50) | 3.00 (1.50) | 2.00 (1.00) |" in table
    assert "InfoNCE cannot exceed log 64 = 4.16 nats." in table
