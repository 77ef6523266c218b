"""The documentation: every shipped config is on the configs page, every results file is included verbatim (no table
typed into the Results page), the README's links and headline table hold, the Python examples run, and
``mkdocs build --strict`` passes."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CONFIGS_PAGE = DOCS / "training.md"
SNIPPET = re.compile(r'^--8<-- "([^"]+)"\s*$', flags=re.MULTILINE)


def _shipped_configs() -> set[str]:
    return {path.relative_to(ROOT).as_posix() for path in (ROOT / "configs").rglob("*.yaml")}


def _outside_code_fences(text: str) -> list[str]:
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def test_every_shipped_config_is_on_the_configs_page() -> None:
    page = CONFIGS_PAGE.read_text()
    listed = set(re.findall(r"`(configs/[^`\s]+\.yaml)`", page))
    shipped = _shipped_configs()
    assert shipped, "no configs found"
    assert not shipped - listed, f"configs missing from {CONFIGS_PAGE.name}: {sorted(shipped - listed)}"
    assert not listed - shipped, f"{CONFIGS_PAGE.name} lists configs that do not exist: {sorted(listed - shipped)}"


def test_every_results_file_is_included_verbatim_somewhere() -> None:
    included: set[str] = set()
    for page in DOCS.rglob("*.md"):
        if DOCS / "results" in page.parents:
            continue
        included.update(SNIPPET.findall(page.read_text()))
    for path in included:
        assert (ROOT / path).is_file(), f"a page includes {path}, which does not exist"
    results = {path.relative_to(ROOT).as_posix() for path in (DOCS / "results").glob("*.md")}
    assert results, "no results files found"
    assert not results - included, f"results files no page includes: {sorted(results - included)}"


MEASUREMENT_PAGES = ["results.md", "performance.md", "robustness.md"]
"""Pages whose tables are all measurements: each comes from a file a study or benchmark script wrote."""
MEASUREMENT_SECTIONS = {
    "layers.md": ["What the paper's losses do to a network", "What makes a seed stall: a linear start",
                  "The 8-epoch grid"],
}  # fmt: skip
"""Sections of other pages that hold measurements (the rest of those pages has tables of definitions)."""


def _section(text: str, heading: str) -> str:
    match = re.search(rf"^(#+) {re.escape(heading)}\n", text, flags=re.MULTILINE)
    assert match, f"no section {heading!r}"
    level = len(match.group(1))
    end = re.search(rf"^#{{1,{level}}} ", text[match.end() :], flags=re.MULTILINE)
    return text[match.end() : match.end() + end.start() if end else len(text)]


def _own_table_rows(text: str) -> list[str]:
    return [line for line in _outside_code_fences(text) if line.lstrip().startswith("|")]


@pytest.mark.parametrize("page", MEASUREMENT_PAGES + list(MEASUREMENT_SECTIONS))
def test_measured_tables_are_included_from_results_files(page: str) -> None:
    """A table of measurements comes from the file a script wrote, never typed in or merged by hand."""
    text = (DOCS / page).read_text()
    parts = [_section(text, heading) for heading in MEASUREMENT_SECTIONS.get(page, [])] or [text]
    for part in parts:
        own = _own_table_rows(part)
        assert not own, f"{page} has measured table rows of its own (include the results file): {own[:3]}"
    included = [path for part in parts for path in SNIPPET.findall(part)]
    assert all(path.startswith("docs/results/") for path in included), included
    if page in ("results.md", "performance.md"):
        assert included, f"{page} includes no results file"


def test_readme_headline_table_is_a_results_file_table() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = _own_table_rows(readme)
    assert rows, "the README has no results table"
    sources = re.findall(r"\]\((docs/results/[^)]+\.md)\)", readme)
    assert sources, "the README's results table does not link the results file it comes from"
    lines = {line for source in sources for line in (ROOT / source).read_text().splitlines()}
    assert not [row for row in rows if row not in lines], "README table rows not in the linked results file"


def test_readme_links_exist_and_stay_short() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README links {target}, which does not exist"


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None,
    reason="mkdocs and mkdocstrings are not installed (pip install -e '.[docs]' or '.[dev]')",
)
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert (tmp_path / "site" / "api" / "layers" / "index.html").is_file()


#: Pages whose ```python blocks run as they stand, each page's blocks in order in one namespace (the export page's
#: examples name Hub repositories and folders a reader supplies, so they are not run).
RUNNABLE_PAGES = ["README.md", "docs/getting-started.md", "docs/layers.md", "docs/surgery.md",
                  pytest.param("docs/networks.md", marks=pytest.mark.slow)]  # fmt: skip


@pytest.mark.parametrize("page", RUNNABLE_PAGES)
def test_python_examples_run(page: str, capsys) -> None:
    blocks = re.findall(r"^```python\n(.*?)^```", (ROOT / page).read_text(), flags=re.MULTILINE | re.DOTALL)
    assert blocks, f"{page} has no Python example"
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"{page} example {index + 1}", "exec"), namespace)
    printed = capsys.readouterr().out
    if "replace_pooling(model" in "".join(blocks) and "resnet18" in "".join(blocks):
        assert "1 replaced, 1,024 parameters added" in printed  # the report the page shows
