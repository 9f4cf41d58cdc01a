"""The code passes ``ruff check`` as configured in pyproject.toml ([tool.ruff]: pyflakes'
rules and lines of at most 120 characters) over tfmi, trainers, tools, tests and configs.
Skipped where ruff is not installed (it is in the "test" extra of setup.cfg)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("tfmi", "trainers", "tools", "tests", "configs")


def test_ruff_check_passes():
    pytest.importorskip("ruff")
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", *CHECKED],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, f"ruff check failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
