"""Peer scripts: other packages' MI estimators run on tfmi's benchmark samples, each as
``PEER_PYTHON SCRIPT --data SAMPLES.npz --estimators JSON --out RESULT.json`` with the
Python of a virtualenv that has the peer package (see each script's docstring).

They are files shipped with tfmi, run by path, not modules to import: that virtualenv has
no tfmi, so they import none (only the standard library, ``peer_script`` beside them,
and the peer's packages inside functions). ``peer_script_path`` finds one:

    python -c "from tfmi.evaluation.peers import peer_script_path; print(peer_script_path('bmi_peer'))"

- bmi_peer.py: benchmark-mi's estimators (tfmi.evaluation.estimator_benchmark).
- cmi_peer.py: ennemi's, infomeasure's and the Gaussian conditional MI (tfmi.evaluation.cmi_benchmark).
- pairwise_peer.py: ennemi's pairwise_mi (tools/bench_pairwise.py).
- discrete_peer.py: ennemi and npeet with a discrete side (tools/bench_discrete.py).
- lagged_peer.py: ennemi's estimate_mi with lag= (tools/bench_lagged.py).
- peer_script.py: what they share (their command line, the JSON they write).
"""

from pathlib import Path

__all__ = ["peer_script_path"]

FOLDER = Path(__file__).resolve().parent


def peer_script_path(name):
    """The file of the peer script ``name`` ("bmi_peer"), inside the installed package."""
    return FOLDER / f"{name}.py"
