"""setup.cfg declares what the packaged code imports: every third-party module that
tfmi/ or trainers/ imports (at module level or inside a function) belongs to a
distribution named in install_requires or in an extra, unless the import is an optional
one guarded by ``except ImportError`` (which then tells the user what to install).

Import names are mapped to distribution names with
``importlib.metadata.packages_distributions()`` (``sklearn`` -> scikit-learn); a module
that no installed distribution provides is looked up under its own name. Static
``import`` statements only: ``importlib.import_module`` / ``find_spec`` look-ups are not
seen.
"""

import ast
import configparser
import importlib.metadata
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tfmi", "trainers")  # setup.cfg [options.packages.find]
# Shipped with tfmi but run by path with another virtualenv's Python (a peer's: bmi,
# ennemi, ...), never imported by tfmi: their imports are the peers', not tfmi's
# (tests/test_peer_scripts.py checks they import no tfmi).
PEER_SCRIPTS = REPO_ROOT / "tfmi" / "evaluation" / "peers"
GUARDS = {"ImportError", "ModuleNotFoundError"}


def _normalized(name):
    """PEP 503: case, '-', '_' and '.' do not tell distribution names apart."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions():
    """{normalized distribution name: where setup.cfg declares it} from install_requires
    and every extra."""
    config = configparser.ConfigParser()
    config.read(REPO_ROOT / "setup.cfg")
    sections = {"install_requires": config["options"]["install_requires"]}
    sections.update({f"extra {name!r}": value for name, value in config["options.extras_require"].items()})
    declared = {}
    for where, value in sections.items():
        for line in value.splitlines():
            requirement = line.split("#", 1)[0].strip()
            if requirement:
                name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group(0)
                declared.setdefault(_normalized(name), []).append(where)
    return declared


def _catches_import_error(try_node):
    for handler in try_node.handlers:
        caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(isinstance(name, ast.Name) and name.id in GUARDS for name in caught):
            return True
    return False


def imported_modules(tree):
    """(module, line, guarded) of every absolute import in ``tree``; guarded: in the body
    of a ``try`` that catches ImportError. One pass over the tree."""
    found = []

    def visit(node, guarded):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno, guarded) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.append((node.module, node.lineno, guarded))
        elif isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            for child in node.body:
                visit(child, guarded or _catches_import_error(node))
            for child in (*node.handlers, *node.orelse, *node.finalbody):
                visit(child, guarded)
        elif isinstance(node, (ast.stmt, ast.Module, ast.excepthandler, ast.match_case)):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.stmt, ast.excepthandler, ast.match_case)):
                    visit(child, guarded)

    visit(tree, False)
    return found


def third_party_imports():
    """{top-level module name: ["path:line", ...]} of every unguarded absolute import of a
    module that is neither in the standard library nor one of PACKAGES (the peer scripts
    aside: ``PEER_SCRIPTS``)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            if PEER_SCRIPTS in path.parents:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for module, line, guarded in imported_modules(tree):
                top = module.split(".")[0]
                if not guarded and top not in sys.stdlib_module_names and top not in PACKAGES:
                    found.setdefault(top, []).append(f"{path.relative_to(REPO_ROOT)}:{line}")
    return found


def test_every_third_party_import_is_declared_in_setup_cfg():
    declared = declared_distributions()
    providers = importlib.metadata.packages_distributions()
    imports = third_party_imports()
    assert "tensorflow" in imports and "numpy" in imports, "the walk found none of the known imports"
    undeclared = {}
    for module, places in sorted(imports.items()):
        distributions = providers.get(module, [module])
        if not any(_normalized(name) in declared for name in distributions):
            undeclared[module] = (distributions, places[:3])
    assert not undeclared, (
        "imported but declared neither in install_requires nor in an extra of setup.cfg "
        "({module: (distributions, first places)}): " + repr(undeclared)
    )


def test_the_walk_tells_guarded_imports_from_required_ones():
    tree = ast.parse(
        "import os\nimport numpy\ntry:\n    import pyarrow\nexcept ImportError:\n    pyarrow = None\n"
        "try:\n    import keras\nexcept KeyboardInterrupt:\n    import scipy\n"
        "def f():\n    if True:\n        try:\n            import pandas\n"
        "        except (ValueError, ModuleNotFoundError):\n            import sklearn\n"
        "class C:\n    from absl import logging\n"
    )
    assert imported_modules(tree) == [
        ("os", 1, False), ("numpy", 2, False), ("pyarrow", 4, True), ("keras", 8, False), ("scipy", 10, False),
        ("pandas", 14, True), ("sklearn", 16, False), ("absl", 18, False),
    ]
