r"""Runs benchmark-mi's estimators on given samples: the peer of tools/bench_estimators.py.

Runs inside a Python 3.11 virtualenv with benchmark-mi 0.1.3 (imports no tfmi):

    python3.11 -m venv bmi-venv
    bmi-venv/bin/pip install benchmark-mi==0.1.3 jax==0.4.30 jaxlib==0.4.30
    bmi-venv/bin/python PEERS/bmi_peer.py --data samples.npz --estimators '["bmi-infonce", "bmi-ksg"]' \
        --out result.json

(PEERS: this folder, tfmi/evaluation/peers/ of a checkout or of the installed tfmi).

``--data``: an .npz with arrays ``x`` [n, d_x] and ``y`` [n, d_y]. ``--estimators``: a JSON
list of names of ``PEERS`` (or a path to a file holding one). ``--out`` is rewritten after
each estimator (an interrupted run keeps what finished) with, per estimator, the estimate
in nats, the seconds of ``estimate`` (JIT compilation included), bmi's training steps
and its parameters.

Settings: bmi's package defaults, which are those of the "Beyond Normal" benchmark
(the estimators of its workflows/common_estimators.py are built with defaults only):
neural critics an MLP on the concatenated (x, y) with ReLU hidden layers (16, 8), batch 256,
Adam with learning rate 0.1, at most 10,000 steps, inputs standardised, half of the
samples held out and scored every 250 steps, stopped once two test scores in a row fail to
beat the best, the estimate being the best test score; MINE with moving-average
smoothing 0.9; seed 42. "bmi-infonce-2k" is InfoNCE with at most 2,000 steps (the time
reference of tfmi's default). KSG: bmi's KSGEnsembleFirstEstimator with k = 5 neighbours
(the paper ran R's KSG I with k = 5), inputs standardised. CCA: Gaussian MI of the
canonical correlations (scikit-learn's CCA).
"""

import json
import os
import time

import peer_script  # beside this script

PEERS = {  # name -> (class in bmi.estimators, constructor arguments besides the defaults)
    "bmi-infonce": ("InfoNCEEstimator", {}),
    "bmi-infonce-2k": ("InfoNCEEstimator", {"max_n_steps": 2000}),
    "bmi-nwj": ("NWJEstimator", {}),
    "bmi-dv": ("DonskerVaradhanEstimator", {}),
    "bmi-mine": ("MINEEstimator", {}),
    "bmi-ksg": ("KSGEnsembleFirstEstimator", {"neighborhoods": (5,)}),
    "bmi-cca": ("CCAMutualInformationEstimator", {}),
}
NEURAL = ("InfoNCEEstimator", "NWJEstimator", "DonskerVaradhanEstimator", "MINEEstimator")


def make_estimator(name):
    import bmi

    class_name, arguments = PEERS[name]
    if class_name in NEURAL:
        arguments = {"verbose": False, **arguments}
    return getattr(bmi.estimators, class_name)(**arguments)


def run_one(name, x, y):
    """{"estimate", "seconds", "params", ...} of the peer ``name`` on (x, y)."""
    estimator = make_estimator(name)
    start = time.perf_counter()
    if hasattr(estimator, "estimate_with_info"):
        result = estimator.estimate_with_info(x, y)
        estimate, info = result.mi_estimate, result.additional_information
    else:
        estimate, info = estimator.estimate(x, y), {}
    record = {"estimate": float(estimate), "seconds": time.perf_counter() - start}
    if "n_training_steps" in info:
        record["training_steps"] = int(info["n_training_steps"])
        record["early_stopped"] = not info.get("early_stopping_not_triggered", False)
    record["params"] = json.loads(estimator.parameters().json())
    return record


def main(argv=None):
    args = peer_script.parse_args(__doc__, PEERS, "x [n, d_x] and y [n, d_y]", argv)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    from importlib import metadata

    import numpy as np

    with np.load(args.data) as data:
        x, y = np.asarray(data["x"], np.float64), np.asarray(data["y"], np.float64)
    report = {"benchmark-mi": metadata.version("benchmark-mi"), "jax": metadata.version("jax"), "n": len(x),
              "results": {}}
    peer_script.run_each(args.estimators, lambda name: run_one(name, x, y), report, args.out)


if __name__ == "__main__":
    main()
