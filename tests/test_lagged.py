"""tfmi.lagged_mi: I(x_t; y_{t+k}) against the closed form of an AR(1) series, the
alignment of the two series, the serial-dependence warning and bad lags."""

import numpy as np
import pytest

import tfmi


def _ar1(n, phi, seed):
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(n)
    series = np.empty(n)
    series[0] = noise[0]
    for t in range(1, n):
        series[t] = phi * series[t - 1] + np.sqrt(1 - phi**2) * noise[t]
    return series


def test_an_ar1_series_against_itself_reads_the_closed_form_at_each_lag():
    """I(x_t; x_{t+k}) = -1/2 log(1 - phi^(2k)) (0.511, 0.263, 0.152 nats at phi 0.8):
    each interval, widened for the serial dependence, holds it; uncorrected
    (serial_dependence=False) the intervals are narrower and a warning says so."""
    x = _ar1(20_000, 0.8, seed=0)
    result = tfmi.lagged_mi(x, x, lags=[1, 2, 3, -2], estimator="copula")
    assert result.lags == [1, 2, 3, -2]
    truth = -0.5 * np.log(1 - 0.8 ** (2 * np.abs(result.lags)))
    assert np.all((result.low <= truth) & (truth <= result.high)), (result.low, truth, result.high)
    assert "widened" in result.estimates[0].method and result.estimates[0].warnings == []
    plain = tfmi.lagged_mi(x, x, lags=[1, 2, 3, -2], estimator="copula", serial_dependence=False)
    assert np.all(plain.high - plain.low < result.high - result.low) and np.all(plain.mi == result.mi)
    assert "lag-1 autocorrelations 0.80 and 0.80" in plain.estimates[0].warnings[-1]


def test_the_serial_factor_is_the_long_run_variance_ratio():
    """For an AR(1) series of coefficient phi the variance of its mean grows by
    (1 + phi) / (1 - phi): 3 at 0.5; independent terms: 1."""
    from tfmi.estimation import protocol

    series = _ar1(40_000, 0.5, seed=3)
    rows = np.random.default_rng(4).permutation(40_000)  # given out of order, read in time order
    shuffled = np.empty_like(series)
    shuffled[np.argsort(rows)] = series
    assert protocol.serial_factor(shuffled, rows) == pytest.approx(3.0, rel=0.15)
    assert protocol.serial_factor(np.random.default_rng(5).standard_normal(40_000), np.arange(40_000)) < 1.1


def test_the_series_are_aligned_so_that_the_lag_of_the_coupling_stands_out():
    """y_t = x_{t-2} + noise with x white: only lag 2 carries information, and I there is
    the Gaussian 1/2 log(1 + 1/0.25) = 0.805 nats; no serial-dependence warning."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(6000)
    y = np.roll(x, 2) + 0.5 * rng.standard_normal(6000)
    result = tfmi.lagged_mi(x, y, lags=[-1, 0, 1, 2, 3], estimator="copula")
    assert int(np.argmax(result.mi)) == 3 and result.mi[3] == pytest.approx(0.5 * np.log(5), abs=0.05)
    assert all(low <= 0.0 for low in result.low[[0, 1, 2, 4]])
    assert not any("serially" in message for estimate in result.estimates for message in estimate.warnings)
    direct = tfmi.estimate_mi(x[:-2], y[2:], estimator="copula", serial_dependence=True)
    assert result.estimates[3].mi == direct.mi  # the same call on the aligned rows


def test_bad_lags_are_one_error():
    x = np.arange(50.0)
    with pytest.raises(ValueError, match="lags must be a non-empty list of integers"):
        tfmi.lagged_mi(x, x, lags=[1.5])
    with pytest.raises(ValueError, match=r"lags \[49\] leave fewer than 2 aligned rows"):
        tfmi.lagged_mi(x, x, lags=[1, 49])
    with pytest.raises(ValueError, match="sampled at the same times"):
        tfmi.lagged_mi(x, x[:40])
