"""The public entry points raise only ValueError (InputError and its subclasses among
them) for bad input, as tfmi/errors.py states; another class is allowed only where the
line above the ``raise`` says ``# not input: <why>``. Read from the source with ``ast``."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENTRY_MODULES = sorted(
    [
        REPO / "tfmi" / "estimation" / "estimate.py",
        REPO / "tfmi" / "estimation" / "conditional.py",
        REPO / "tfmi" / "command_line.py",
        REPO / "trainers" / "train.py",
        REPO / "tfmi" / "models" / "__init__.py",
        REPO / "tfmi" / "data" / "__init__.py",
        REPO / "tfmi" / "config_utils.py",
        *(REPO / "tfmi" / "workdir").glob("*.py"),
    ]
)
# ValueError and the project's subclasses of it (test below checks that they are).
ALLOWED = ("ValueError", "InputError", "UserError", "Diverged", "WorkdirError")
MARKER = "# not input:"


def _name(node):
    """"InputError" of ``InputError(...)``, ``errors.InputError`` or ``InputError``."""
    node = node.func if isinstance(node, ast.Call) else node
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)


def _built_classes(tree):
    """{function of the module: names of what its returns build}, so that
    ``raise _os_error(...)`` counts as the classes ``_os_error`` returns."""
    return {
        function.name: {_name(node.value) for node in ast.walk(function) if isinstance(node, ast.Return) and node.value}
        for function in tree.body
        if isinstance(function, ast.FunctionDef)
    }


def disallowed_raises(source, where="<source>"):
    """"where:line: raise X" for each ``raise`` of a class outside ALLOWED that the line
    above does not mark with MARKER (a bare re-raise is fine)."""
    tree = ast.parse(source)
    lines = source.splitlines()
    built = _built_classes(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        name = _name(node.exc)
        classes = built.get(name, {name})
        if set(classes) <= set(ALLOWED) or (node.lineno > 1 and lines[node.lineno - 2].strip().startswith(MARKER)):
            continue
        found.append((node.lineno, f"{where}:{node.lineno}: raise {name}"))
    return [problem for _, problem in sorted(found)]


def test_entry_points_raise_only_value_errors_for_input():
    assert len(ENTRY_MODULES) > 8
    found = [
        problem
        for path in ENTRY_MODULES
        for problem in disallowed_raises(path.read_text(), path.relative_to(REPO))
    ]
    assert not found, (
        f"raise one of {ALLOWED} for bad input, or mark an invariant with '{MARKER} <why>' "
        "on the line above: " + "; ".join(found)
    )


def test_allowed_classes_are_value_errors():
    sources = [REPO / "tfmi" / "errors.py", *ENTRY_MODULES]
    bases = {
        node.name: {_name(base) for base in node.bases}
        for path in sources
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
    }
    for name in ALLOWED[1:]:
        assert name in bases, f"{name} is defined in none of the entry points' modules"
        assert bases[name] & set(ALLOWED), f"{name} derives from {bases[name]}, not from one of {ALLOWED}"


def test_check_sees_an_unmarked_raise_and_accepts_a_marked_one():
    source = (
        "def build():\n"
        "    return KeyError('x')\n"
        "def f(x):\n"
        "    if x:\n"
        "        raise KeyError(x)\n"
        "    # not input: a broken invariant\n"
        "    raise RuntimeError(x)\n"
        "    raise errors.InputError(x)\n"
        "    raise build()\n"
        "    raise\n"
    )
    assert disallowed_raises(source) == ["<source>:5: raise KeyError", "<source>:9: raise build"]
