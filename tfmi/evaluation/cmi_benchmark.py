r"""tfmi's conditional MI estimators against k-NN peers on tasks with exact I(x; y | z)
(the logic of tools/bench_cmi.py).

Each run is one (task, n, seed, estimator) of ``tfmi.data.cmi_ground_truth``, kept as
``RESULTS/<task>/n<n>_seed<seed>/<estimator>.json`` and skipped when present, as in
``estimator_benchmark`` (whose functions score and report the runs; ``SUITE`` names this
benchmark's tasks, groups and time references). The samples of (task, n, seed) are written
once beside them, ``samples.npz`` with arrays x, y and z, and every estimator reads them.
A record's "mi_true" is the exact I(x; y | z) (the key the shared functions read), with the
task's dimensions and group.

tfmi's estimators: "tfmi-default" is ``tfmi.estimate_cmi(x, y, z, seed=seed)`` and
"tfmi-NAME" adds ``estimator=NAME`` (NAME in ``tfmi.estimation.conditional.CMI_ESTIMATORS``).
The peers run in their own virtualenvs through the peer script cmi_peer.py (``PEER_SCRIPT``,
shipped in ``tfmi.evaluation.peers``; see its docstring): ennemi's Frenzel-Pompe estimator
by its public API and on the joint x and y, infomeasure's KSG, and the Gaussian CMI of the
sample covariance.

Scores as ``estimator_benchmark``'s: absolute error, solved within a factor 1.5 of the
truth (|estimate| < 0.05 nats on tasks whose CMI is 0), MAE / best peer, seconds / the
seconds of ennemi-joint and infomeasure-ksg, and how often tfmi's interval holds the truth,
on all tasks and on those whose CMI is 0 (group "zero").
"""

import os

import numpy as np

import tfmi
from tfmi.data import cmi_ground_truth
from tfmi.evaluation import estimator_benchmark as bench
from tfmi.evaluation.peers import peer_script_path

__all__ = [
    "PEER_PACKAGES",
    "QUICK_TASKS",
    "SUITE",
    "task_fields",
    "tfmi_kwargs",
    "samples_path",
    "write_samples",
    "run_tfmi",
    "run_peer",
]

# The peers of cmi_peer.py and the package whose virtualenv runs each (None: NumPy only).
PEER_PACKAGES = {"ennemi": "ennemi", "ennemi-joint": "ennemi", "infomeasure-ksg": "infomeasure",
                 "gaussian-linear": None}
PEER_SCRIPT = peer_script_path("cmi_peer")
QUICK_TASKS = cmi_ground_truth.QUICK_CMI_TASKS

GROUPS = {
    "all": list(cmi_ground_truth.CMI_TASKS),
    **cmi_ground_truth.CMI_GROUPS,
    "zero": [name for name, task in cmi_ground_truth.CMI_TASKS.items() if task.cmi == 0],
}
GROUP_TITLES = {
    "all": "All tasks",
    "gaussian": "Gaussian (x = A z + e_x, y = B z + e_y, correlated noises)",
    "independent": "Independent given z, dependent marginally (CMI 0)",
    "copula": "Gaussian copulas with non-Gaussian margins",
    "student": "Multivariate Student-t",
    "mixture": "Gaussian mixtures (Monte Carlo truth)",
    "link": "Nonlinear in z with a direct link between x and y",
    "additive": "Nonlinear in z, correlated additive noise (closed form)",
    "zero": "Every task whose CMI is 0",
}
SUITE = bench.Suite("tfmi vs k-NN estimators on tasks with exact conditional MI", "CMI",
                    tuple(cmi_ground_truth.CMI_TASKS), GROUPS, GROUP_TITLES, ("ennemi-joint", "infomeasure-ksg"))


def task_fields(task):
    """What a run's record says of its task: name, group, exact CMI (as "mi_true"), dimensions."""
    return {"task": task.name, "group": task.group, "mi_true": task.cmi, "dim_x": task.dim_x, "dim_y": task.dim_y,
            "dim_z": task.dim_z}


def tfmi_kwargs(name):
    """The keyword arguments of ``tfmi.estimate_cmi`` that tfmi's estimator ``name`` stands for."""
    if name == "tfmi-default":
        return {}
    if not name.startswith("tfmi-"):
        raise ValueError(f"{name!r} is not one of tfmi's estimators (tfmi-default or tfmi-NAME)")
    return {"estimator": name[len("tfmi-"):]}


def samples_path(results_dir, task_name, n, seed):
    """The .npz of the samples (x, y, z) that every estimator of (task, n, seed) reads."""
    return bench.result_path(results_dir, task_name, n, seed, "samples").with_suffix(".npz")


def write_samples(task, n, seed, results_dir):
    """Writes the samples of (task, n, seed) unless present; returns their path."""
    path = samples_path(results_dir, task.name, n, seed)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        x, y, z = task.sample(n, seed)
        temporary = path.with_suffix(".tmp")
        with open(temporary, "wb") as handle:
            np.savez(handle, x=x, y=y, z=z)
        os.replace(temporary, path)
    return path


def run_tfmi(name, task, n, seed, results_dir):
    """Runs tfmi's estimator ``name`` on (task, n, seed) unless its result file exists;
    returns the record (None if skipped)."""
    if bench.result_path(results_dir, task.name, n, seed, name).exists():
        return None
    with np.load(write_samples(task, n, seed, results_dir)) as data:
        arrays = [data[key] for key in ("x", "y", "z")]
    return bench.record_estimate(tfmi.estimate_cmi, arrays, tfmi_kwargs(name), task_fields(task), n, seed, name,
                                 results_dir)


def run_peer(peer_python, names, task, n, seed, results_dir, timeout=None):
    """Runs the peers ``names`` without a result file on (task, n, seed) in one subprocess of
    ``peer_python`` (``PEER_SCRIPT``); returns their records (``run_peer_script``)."""
    if not bench.missing_runs(names, results_dir, task.name, n, seed):
        return []
    return bench.run_peer_script(peer_python, PEER_SCRIPT, names, write_samples(task, n, seed, results_dir),
                                 task_fields(task), n, seed, results_dir, timeout)
