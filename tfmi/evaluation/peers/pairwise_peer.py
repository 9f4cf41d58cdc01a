r"""Runs ennemi's ``pairwise_mi`` on a table: the peer of tools/bench_pairwise.py. Imports
no tfmi; it runs in a virtualenv with ennemi (never a dependency of tfmi):

    python3.11 -m venv /work/peers/ennemi-venv && /work/peers/ennemi-venv/bin/pip install ennemi
    /work/peers/ennemi-venv/bin/python PEERS/pairwise_peer.py --data table.npz --out result.json

(PEERS: this folder, tfmi/evaluation/peers/ of a checkout or of the installed tfmi).

``--data``: an .npz with the array ``values`` [n, p]. ``--out``: JSON with, per estimator,
the [p, p] matrix in nats (None on the diagonal), its seconds and parameters, and the
version of ennemi.

- "ennemi": ``ennemi.pairwise_mi(values, k=3)``: the KSG estimator (Kraskov et al. 2004)
  on every pair of columns, each scaled to unit variance with 1e-10 noise of a fixed
  seed (ennemi's preprocessing), on every core of the machine (ennemi's default).
"""

import time

import peer_script  # beside this script

PEERS = {"ennemi": ("ennemi", {"k": 3})}  # name -> (package, parameters)


def run_one(name, values):
    """{"matrix", "seconds", "params"} of the peer ``name`` on ``values``."""
    import ennemi

    params = PEERS[name][1]
    start = time.perf_counter()
    matrix = ennemi.pairwise_mi(values, **params)
    seconds = time.perf_counter() - start
    rows = [[None if value != value else float(value) for value in row] for row in matrix]  # NaN -> None
    return {"matrix": rows, "seconds": seconds, "params": params}


def main(argv=None):
    args = peer_script.parse_args(__doc__, PEERS, "values [n, p]", argv)
    from importlib import metadata

    import numpy as np

    with np.load(args.data) as data:
        values = np.asarray(data["values"], np.float64)
    report = {"n": len(values), "results": {}, "ennemi": metadata.version("ennemi")}
    peer_script.run_each(args.estimators, lambda name: run_one(name, values), report, args.out,
                         lambda result: result.get("seconds", result.get("error")))


if __name__ == "__main__":
    main()
