"""The peer scripts shipped in tfmi/evaluation/peers/: found inside the package (not in
tools/), runnable by path with a Python that has no tfmi (they import none, and only the
standard library before their main runs), and their shared loop keeps every estimator's
result or error."""

import ast
import importlib.util
import json
import subprocess
import sys

import pytest

from tfmi.evaluation import cmi_benchmark, estimator_benchmark
from tfmi.evaluation.peers import FOLDER, peer_script_path

SCRIPTS = sorted(path for path in FOLDER.glob("*.py") if path.name != "__init__.py")


def test_the_benchmarks_run_peer_scripts_of_the_package():
    assert {path.stem for path in SCRIPTS} >= {"bmi_peer", "cmi_peer", "pairwise_peer", "discrete_peer", "peer_script"}
    assert estimator_benchmark.PEER_SCRIPT == FOLDER / "bmi_peer.py" == peer_script_path("bmi_peer")
    assert cmi_benchmark.PEER_SCRIPT == FOLDER / "cmi_peer.py"
    assert all(path.is_file() for path in (estimator_benchmark.PEER_SCRIPT, cmi_benchmark.PEER_SCRIPT))


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: path.name)
def test_a_peer_script_imports_no_tfmi_and_only_the_standard_library_at_its_top(path):
    tree = ast.parse(path.read_text())
    everywhere = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                  for alias in node.names}
    everywhere |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                   and node.module}
    assert "tfmi" not in everywhere
    top = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top |= {node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert top <= set(sys.stdlib_module_names) | {"peer_script"}, top


@pytest.mark.parametrize("name", [path.stem for path in SCRIPTS if path.stem.endswith("_peer")])
def test_a_peer_script_starts_without_site_packages(name, tmp_path):
    """``python -S``: no site-packages, so no tfmi (nor NumPy); --help needs neither."""
    done = subprocess.run([sys.executable, "-S", str(peer_script_path(name)), "--help"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--data" in done.stdout and "--out" in done.stdout


def test_run_each_keeps_every_result_and_error(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(FOLDER))
    spec = importlib.util.spec_from_file_location("_peer_script", FOLDER / "peer_script.py")
    peer_script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer_script)

    def estimate(name):
        if name == "broken":
            raise ArithmeticError("diverged")
        return {"estimate": 0.5}

    out = tmp_path / "out.json"
    peer_script.run_each(["good", "broken"], estimate, {"n": 10, "results": {}}, str(out),
                         lambda result: result.get("estimate"))
    assert json.loads(out.read_text())["results"] == {"good": {"estimate": 0.5},
                                                      "broken": {"error": "ArithmeticError: diverged"}}
    assert capsys.readouterr().err == "good: 0.5\nbroken: None\n"
