"""README as a guide: its Python examples run as they stand, and its relative links (and
those of the docs pages) point at files that exist, anchors included.

The examples of "## Command line" and "## Conditional MI" are run by
tests/test_command_line.py and tests/test_estimate_cmi.py; every other ```python block
runs here, in order, in one namespace (a block may continue the one before it, as a
reader would). A block with a line "# needs a download" or "# needs a GPU" is skipped."""

import io
import math
import re
import unicodedata
from contextlib import redirect_stdout
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TESTED_ELSEWHERE = ("Command line", "Conditional MI")
SKIP_MARKERS = ("# needs a download", "# needs a GPU")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def sections(text):
    """[(heading, body)] of the "## " sections (the part before the first is titled "")."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return [("", parts[0])] + list(zip(parts[1::2], parts[2::2]))


def python_blocks(text):
    """(heading, code) of every ```python block outside the sections tested elsewhere."""
    return [(heading, code) for heading, body in sections(text) if heading not in TESTED_ELSEWHERE
            for code in re.findall(r"^```python\n(.*?)^```", body, re.S | re.M)]


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = unicodedata.normalize("NFKC", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    return {slug(heading) for heading in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", path.read_text()), re.M)}


def broken_links(path):
    """The relative links of a Markdown file whose file or #anchor does not exist."""
    broken = []
    for target in LINK.findall(FENCE.sub("", path.read_text())):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(f"{target} (no such file {resolved})")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} (no heading with anchor #{anchor} in {resolved.name})")
    return broken


def test_readme_python_examples_run(monkeypatch):
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 4, "README lost its Python examples (estimate_mi, DEMI, bounds, configs)"
    monkeypatch.chdir(ROOT)  # the examples name configs/... relative to the repository
    namespace, ran = {"__name__": "__readme__"}, []
    for heading, code in blocks:
        if any(marker in code for marker in SKIP_MARKERS):
            continue
        with redirect_stdout(io.StringIO()):
            exec(compile(code, f"README.md ({heading})", "exec"), namespace)
        ran.append(heading)
        if heading == "Estimating MI between two arrays" and "0.42" in code:
            # The first example states its true value: -2.5 log(1 - 0.42^2) nats.
            truth = -2.5 * math.log(1 - 0.42**2)
            low, high = namespace["result"].interval
            assert low <= truth <= high, (namespace["result"].mi, low, high, truth)
        if "labelled = " in code:
            # The discrete example: x | c ~ N(c, 1), c uniform on 3 classes: I = 0.2545 nats (Monte Carlo of the
            # exact log ratio, tests/test_estimate.py's _labelled_gaussians).
            low, high = namespace["labelled"].interval
            assert low <= 0.2545 <= high, (namespace["labelled"].mi, low, high)
    assert "Estimating MI between two arrays" in ran and "Bounds" in ran, ran


def test_skip_marker_skips_a_block():
    text = "## A\n\n```python\n# needs a download\nraise SystemExit\n```\n\n## Command line\n\n```python\nx\n```\n"
    blocks = python_blocks(text)
    assert blocks == [("A", "# needs a download\nraise SystemExit\n")]
    assert any(marker in blocks[0][1] for marker in SKIP_MARKERS)


@pytest.mark.parametrize("page", [README, *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name)
def test_relative_links_point_at_existing_files(page):
    assert broken_links(page) == []


def test_link_checker_finds_a_missing_file_and_anchor(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Top\n\n[ok](#top) [gone](missing.md) [bad](#nowhere) [web](https://example.org)\n"
                    "```\n[in code](not_checked.md)\n```\n")
    assert [entry.split(" ")[0] for entry in broken_links(page)] == ["missing.md", "#nowhere"]
