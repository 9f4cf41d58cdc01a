r"""Runs ennemi and npeet on many samples with a discrete side: the peers of
tools/bench_discrete.py. Imports no tfmi; it runs in a virtualenv with the peers (never
dependencies of tfmi):

    python3.11 -m venv /work/peers/ennemi-venv && /work/peers/ennemi-venv/bin/pip install ennemi npeet-plus
    /work/peers/ennemi-venv/bin/python PEERS/discrete_peer.py --data samples.npz --out result.json

(PEERS: this folder, tfmi/evaluation/peers/ of a checkout or of the installed tfmi).

``--data``: an .npz with ``count`` (the number of samples), ``discrete_x`` (bool: x is
discrete too), and per sample i the arrays ``x_<i>`` [n, d] (continuous, or one discrete
column), ``y_<i>`` [n] (discrete) and ``seed_<i>``. ``--out``: JSON with, per estimator,
a list over the samples of {"estimate" (nats), "seconds", "method"} (None where the peer
has no estimate of the sample), and the versions of the peers.

- "ennemi": ``ennemi.estimate_mi(y, x, k=3, discrete_y=True, discrete_x=...)``: the k-NN
  estimate of Ross 2014 for a continuous feature, the plug-in of the contingency table for
  two discrete sides. ennemi estimates each column of x on its own: no joint MI of several
  features (None).
- "npeet": npeet_plus (NPEET of Ver Steeg, as packaged on PyPI) with ``base=e``: ``micd(x, y,
  k=3)`` for continuous x of any dimension (H(x) - sum_c p_c H(x | c), Kozachenko-Leonenko
  entropies; its absolute value), ``midd(x, y)`` for two discrete sides. Its 1e-10 noise
  is drawn from numpy's global generator, seeded with the sample's seed.
"""

import importlib
import math
import time

import peer_script  # beside this script

PEERS = {"ennemi": "ennemi", "npeet": "npeet_plus"}  # name -> package


def run_one(name, x, y, discrete_x, seed):
    """{"estimate", "seconds", "method"} of the peer ``name`` on one sample, or None."""
    import numpy as np

    peer = importlib.import_module(PEERS[name])  # before the clock: imported once, by the first sample
    start = time.perf_counter()
    if name == "ennemi":
        if x.shape[1] > 1:
            return None
        value = peer.estimate_mi(y, x, k=3, discrete_y=True, discrete_x=discrete_x)[0, 0]
        method = f"ennemi.estimate_mi(k=3, discrete_y=True, discrete_x={discrete_x})"
    else:
        np.random.seed(seed)
        if discrete_x:
            value = peer.midd(x[:, 0], y, base=math.e)
            method = "npeet_plus.midd(base=e)"
        else:
            value = peer.micd(x, y[:, None], k=3, base=math.e, warning=False)
            method = "npeet_plus.micd(k=3, base=e)"
    return {"estimate": float(value), "seconds": time.perf_counter() - start, "method": method}


def main(argv=None):
    args = peer_script.parse_args(__doc__, PEERS, "count, discrete_x, x_<i>, y_<i>, seed_<i>", argv)
    from importlib import metadata

    import numpy as np

    with np.load(args.data) as data:
        discrete_x = bool(data["discrete_x"])
        samples = [(np.asarray(data[f"x_{i}"], np.float64), np.asarray(data[f"y_{i}"]), int(data[f"seed_{i}"]))
                   for i in range(int(data["count"]))]
    report = {"results": {}, **{package: metadata.version(package.replace("_", "-")) for package in PEERS.values()}}
    peer_script.run_each(args.estimators,
                         lambda name: [run_one(name, x, y, discrete_x, seed) for x, y, seed in samples],
                         report, args.out, lambda result: f"{len(samples)} samples")


if __name__ == "__main__":
    main()
