r"""Runs other packages' conditional MI estimators on given samples: the peer of
tools/bench_cmi.py. Imports no tfmi; each peer runs in a virtualenv with its package:

    python3.11 -m venv ennemi-venv && ennemi-venv/bin/pip install ennemi    # ennemi, ennemi-joint (ennemi 1.5.0)
    python3.11 -m venv knn-venv && knn-venv/bin/pip install infomeasure     # infomeasure-ksg (infomeasure 0.6.3)
    ennemi-venv/bin/python PEERS/cmi_peer.py --data samples.npz --estimators '["ennemi"]' --out result.json

(PEERS: this folder, tfmi/evaluation/peers/ of a checkout or of the installed tfmi).

``--data``: an .npz with arrays ``x`` [n, d_x], ``y`` [n, d_y], ``z`` [n, d_z]. ``--estimators``:
a JSON list of names of ``PEERS``. ``--out`` is rewritten after each estimator (an
interrupted run keeps what finished) with, per estimator, the estimate of I(x; y | z) in
nats, its seconds and its parameters, and the versions of the packages used.

The peers (k-NN estimators at their package's default k, max-norm neighbourhoods):

- "ennemi": ennemi's public ``estimate_mi(y, x, cond=z, k=3)`` (Frenzel & Pompe 2007;
  ennemi scales each variable to unit variance and adds 1e-10 noise). ennemi takes a 1-d y
  and estimates the MI of y with each column of x separately, so for multidimensional
  x or y this peer sums the chain rule over coordinates, one ennemi call per pair:
  I(x; y | z) = sum_j sum_i I(x_i; y_j | z, y_<j, x_<i) (d_x d_y estimates, each with its
  own bias, conditioned on up to d_z + d_x + d_y - 2 columns).
- "ennemi-joint": the same Frenzel-Pompe estimator on the joint x and y: ennemi's
  internal ``_entropy_estimators._estimate_conditional_mi(x, y, z, k=3)`` (the function
  ``estimate_mi`` calls per column; it takes 2-d x and y) on columns standardised here.
  Equal to "ennemi" when d_x = d_y = 1, up to ennemi's preprocessing noise.
- "infomeasure-ksg": infomeasure's ``cmi(x, y, cond=z, approach="ksg", k=4)`` (KSG type I
  for CMI, joint multivariate x, y and z; noise 1e-10), on columns standardised here
  (infomeasure's own ``normalize`` takes only 1-d data). infomeasure 0.6.3 adds its noise
  to z once per row in a Python loop, which costs it seconds at n = 5,000.
- "gaussian-linear": the CMI of the Gaussian with the samples' covariance,
  1/2 (log det S_xz + log det S_yz - log det S_z - log det S_xyz): the partial-correlation
  baseline, exact for Gaussians and blind to nonlinear dependence. NumPy only.
"""

import time

import peer_script  # beside this script

PEERS = {  # name -> (package whose virtualenv runs it, parameters)
    "ennemi": ("ennemi", {"k": 3}),
    "ennemi-joint": ("ennemi", {"k": 3}),
    "infomeasure-ksg": ("infomeasure", {"k": 4, "approach": "ksg"}),
    "gaussian-linear": ("numpy", {}),
}


def standardise(v):
    """Each column to mean 0 and variance 1."""
    return (v - v.mean(axis=0)) / v.std(axis=0)


def ennemi_chain_rule(x, y, z, k):
    """sum_j sum_i I(x_i; y_j | z, y_<j, x_<i), each term one call of ennemi.estimate_mi."""
    import numpy as np
    import ennemi

    total = 0.0
    for j in range(y.shape[1]):
        for i in range(x.shape[1]):
            cond = np.column_stack([z, y[:, :j], x[:, :i]])
            total += float(ennemi.estimate_mi(y[:, j], x[:, i], cond=cond, k=k)[0, 0])
    return total


def ennemi_joint(x, y, z, k):
    from ennemi import _entropy_estimators

    return float(_entropy_estimators._estimate_conditional_mi(standardise(x), standardise(y), standardise(z), k))


def infomeasure_ksg(x, y, z, k, approach):
    import infomeasure

    return float(infomeasure.cmi(standardise(x), standardise(y), cond=standardise(z), approach=approach, k=k,
                                 base="e"))


def gaussian_linear(x, y, z):
    """The Gaussian CMI of the sample covariance of (x, y, z)."""
    import numpy as np

    dx, dy = x.shape[1], y.shape[1]
    covariance = np.cov(np.column_stack([x, y, z]), rowvar=False)
    xs, ys, zs = np.arange(dx), np.arange(dx, dx + dy), np.arange(dx + dy, len(covariance))

    def logdet(*blocks):
        index = np.concatenate(blocks)
        return np.linalg.slogdet(covariance[np.ix_(index, index)])[1]

    return float(0.5 * (logdet(xs, zs) + logdet(ys, zs) - logdet(zs) - logdet(xs, ys, zs)))


ESTIMATE = {"ennemi": ennemi_chain_rule, "ennemi-joint": ennemi_joint, "infomeasure-ksg": infomeasure_ksg,
            "gaussian-linear": gaussian_linear}


def run_one(name, x, y, z):
    """{"estimate", "seconds", "params"} of the peer ``name`` on (x, y, z)."""
    params = PEERS[name][1]
    start = time.perf_counter()
    estimate = ESTIMATE[name](x, y, z, **params)
    return {"estimate": estimate, "seconds": time.perf_counter() - start, "params": params}


def main(argv=None):
    args = peer_script.parse_args(__doc__, PEERS, "x [n, d_x], y [n, d_y], z [n, d_z]", argv)
    from importlib import metadata

    import numpy as np

    with np.load(args.data) as data:
        x, y, z = (np.asarray(data[key], np.float64) for key in ("x", "y", "z"))
    report = {"n": len(x), "results": {}}
    for package in sorted({PEERS[name][0] for name in args.estimators}):
        report[package] = metadata.version(package)
    peer_script.run_each(args.estimators, lambda name: run_one(name, x, y, z), report, args.out)


if __name__ == "__main__":
    main()
