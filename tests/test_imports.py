"""The layers of tfmi import downwards only: no module imports another in a cycle, and
no module imports a higher layer, counting imports inside functions (read from the
source with ``ast``, not by importing)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tfmi"


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph():
    """{module: {tfmi module it imports, anywhere in its source: (line, ...)}}."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        edges = {}
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from . import x, from ..a import b
                    anchor = name.split(".")
                    anchor = anchor if is_package else anchor[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                # "from tfmi.models import dialogue" imports the module tfmi.models.dialogue.
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:  # tfmi.models.build_model -> tfmi.models
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges.setdefault(target, []).append(node.lineno)
        graph[name] = edges
    return graph


def find_cycles(graph):
    """The cycles of ``graph`` ({node: iterable of nodes}), one per strongly connected
    component of more than one node, each as the list of its nodes (Tarjan)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph.get(node, ()):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_find_cycles_finds_a_cycle_and_only_cycles():
    assert find_cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
    assert find_cycles({"a": ["b"], "b": ["c"], "c": [], "d": ["a", "c"]}) == []


def test_import_graph_sees_imports_inside_functions():
    graph = import_graph()
    # tfmi/estimation/decomposed.py imports tfmi.models.demi inside demi_estimate only.
    assert "tfmi.models.demi" in graph["tfmi.estimation.decomposed"]
    assert "tfmi.workdir" in graph["tfmi.evaluation.dialogue"]


def test_tfmi_has_no_import_cycle():
    graph = import_graph()
    cycles = find_cycles(graph)
    detail = [
        " -> ".join(cycle) + ": " + "; ".join(
            f"{a} imports {b} (line {graph[a][b][0]})" for a in cycle for b in cycle if b in graph[a]
        )
        for cycle in cycles
    ]
    assert not cycles, "import cycles: " + " | ".join(detail)


def test_workdir_package_imports_no_higher_layer():
    """The workdir sits below models and evaluation: its modules import only each other
    and leaf modules."""
    graph = import_graph()
    package = {name for name in graph if name == "tfmi.workdir" or name.startswith("tfmi.workdir.")}
    assert len(package) > 1  # the package and its modules
    for name in sorted(package):
        assert set(graph[name]) <= package | {"tfmi.json_files", "tfmi.errors"}, name


# The layers of README's Architecture section, lowest first; a module may import its own
# layer and those below it. "tfmi" is the package's front (estimate_mi).
LAYERS = (
    ("errors", "console", "json_files", "reachability", "worker_startup", "config_utils"),
    ("bounds", "layers", "distribute", "optim", "workdir"),
    ("critics", "encoders"),
    ("data",),
    ("models",),
    ("estimation", ""),
    ("evaluation", "sklearn"),
    ("command_line",),
)


def _layer(module):
    part = module.split(".")[1] if "." in module else ""
    for rank, members in enumerate(LAYERS):
        if part in members:
            return rank
    raise AssertionError(f"{module} is in no layer of LAYERS: add it to one.")


def test_layers_import_only_their_own_layer_and_lower_ones():
    graph = import_graph()
    upward = [
        f"{name} (layer {_layer(name)}) imports {target} (layer {_layer(target)}, line {lines[0]})"
        for name, targets in sorted(graph.items())
        for target, lines in sorted(targets.items())
        if _layer(target) > _layer(name)
    ]
    assert not upward, "imports of a higher layer: " + "; ".join(upward)


def test_layer_check_sees_an_upward_import():
    assert _layer("tfmi.models.infomax") > _layer("tfmi.encoders.jacobian")
    assert _layer("tfmi.evaluation.checkpoints") > _layer("tfmi.models")


def test_estimating_mi_loads_no_model_zoo():
    """``tfmi.estimate_mi``'s default on Gaussian pairs (the copula) imports no TensorFlow
    at all; a critic (estimator="infonce") and ``estimate_cmi`` (its networks) import it,
    but neither the models with their encoders (ResNet, RealNVP) nor TensorFlow
    Probability: the model package is loaded for the DEMI estimators alone."""
    import subprocess
    import sys

    code = ("import sys, numpy as np, tfmi; rng = np.random.default_rng(0); x = rng.standard_normal((300, 2)); "
            "tfmi.estimate_mi(x, x + rng.standard_normal((300, 2)), bootstrap=2); "
            "print(' '.join(sys.modules)); "
            "tfmi.estimate_mi(x, x + rng.standard_normal((300, 2)), estimator='infonce', max_steps=20, eval_every=10, "
            "batch_size=64); "
            "tfmi.estimate_cmi(x[:, 0], x[:, 1], rng.standard_normal(300), bootstrap=2); print(' '.join(sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                            cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stderr[-3000:]
    after_copula, loaded = (line.split() for line in result.stdout.splitlines()[-2:])
    assert "tfmi.estimation.estimate" in after_copula
    assert not [name for name in after_copula if name.split(".")[0] in ("tensorflow", "keras")]
    assert "tfmi.estimation.neural" in loaded and "tfmi.estimation.regression" in loaded  # they ran
    forbidden = [name for name in loaded
                 if name.split(".")[:2] in (["tfmi", "models"], ["tfmi", "encoders"])
                 or name == "tensorflow_probability"]
    assert not forbidden, forbidden
