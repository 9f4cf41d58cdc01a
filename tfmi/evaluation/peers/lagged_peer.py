r"""Runs ennemi's ``estimate_mi`` with ``lag=`` on two series: the peer of
tools/bench_lagged.py. Imports no tfmi; it runs in a virtualenv with ennemi (never a
dependency of tfmi):

    python3.11 -m venv /work/peers/ennemi-venv && /work/peers/ennemi-venv/bin/pip install ennemi
    /work/peers/ennemi-venv/bin/python tfmi/evaluation/peers/lagged_peer.py --data series.npz --out result.json
    /work/peers/ennemi-venv/bin/python tfmi/evaluation/peers/lagged_peer.py --check-convention

``--data``: an .npz with the series ``x``, ``y`` [n] (time in order) and the integer
``lags`` [L]. ``--out``: JSON with, per estimator, the estimate in nats of each lag (keys
the lags as strings), its seconds and parameters, and the version of ennemi.

- "ennemi": ``ennemi.estimate_mi(y, x, lag=lags, k=3)``: the KSG estimator (Kraskov et al.
  2004) with ennemi's preprocessing (each variable scaled to unit variance, 1e-10 noise of a
  fixed seed), one thread per lag on every core (ennemi's default). ennemi reads a lag as
  y(t) ~ x(t - lag): ``estimate_mi(y, x, lag=k)`` is I(y_t; x_{t-k}) = I(x_s; y_{s+k}),
  the quantity of ``tfmi.lagged_mi(x, y, lags=[k])``. ennemi keeps the same y rows for
  every lag of one call: n - max(lags) pairs each (tfmi: n - k at lag k).

``--check-convention`` checks that reading on a series where only one lag carries
information: x white noise, y_t = x_{t-3} + 0.5 e_t, so I(x_t; y_{t+3}) = 1/2 log 5 = 0.80
and every other lag has MI 0. It prints ennemi's estimates at lags -3, 0, 3 and exits 1
unless lag 3 reads near 0.80 and the others near 0.
"""

import sys
import time

import peer_script  # beside this script

PEERS = {"ennemi": ("ennemi", {"k": 3})}  # name -> (package, parameters)


def run_one(name, x, y, lags):
    """{"estimates": {lag: nats}, "seconds", "params"} of the peer ``name`` on the series."""
    import ennemi

    params = PEERS[name][1]
    start = time.perf_counter()
    values = ennemi.estimate_mi(y, x, lag=[int(lag) for lag in lags], **params)  # [L, 1]
    seconds = time.perf_counter() - start
    return {"estimates": {str(int(lag)): float(values[i, 0]) for i, lag in enumerate(lags)}, "seconds": seconds,
            "params": {**params, "call": "estimate_mi(y, x, lag=lags)"}}


def check_convention(n=20_000, seed=0):
    """ennemi's estimates at lags -3, 0, 3 on y_t = x_{t-3} + 0.5 e_t; True when only lag 3
    carries information (module docstring)."""
    import math

    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    y = np.roll(x, 3) + 0.5 * rng.standard_normal(n)  # y_t = x_{t-3} + noise (the first 3 wrap: negligible)
    found = run_one("ennemi", x, y, [-3, 0, 3])["estimates"]
    exact = 0.5 * math.log(5.0)
    print(f"ennemi.estimate_mi(y, x, lag=k) with y_t = x_(t-3) + 0.5 e: {found} (exact at lag 3: {exact:.4f}, "
          f"else 0)")
    return abs(found["3"] - exact) < 0.05 and abs(found["0"]) < 0.02 and abs(found["-3"]) < 0.02


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--check-convention"]:
        return 0 if check_convention() else 1
    args = peer_script.parse_args(__doc__, PEERS, "x [n], y [n], lags [L]", argv)
    from importlib import metadata

    import numpy as np

    with np.load(args.data) as data:
        x, y = np.asarray(data["x"], np.float64), np.asarray(data["y"], np.float64)
        lags = [int(lag) for lag in data["lags"]]
    report = {"n": len(x), "results": {}, "ennemi": metadata.version("ennemi")}
    peer_script.run_each(args.estimators, lambda name: run_one(name, x, y, lags), report, args.out,
                         lambda result: result.get("seconds", result.get("error")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
