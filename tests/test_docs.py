"""The documentation as a reader gets it: the built HTML, and the quickstart followed in order."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "docs" / "quickstart.md"

# Sphinx roles (:class:`X`, :py:func:`f`), left in a docstring, print as text in mkdocstrings' Markdown.
ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|exc|obj|data|const|ref|doc|term):")
# A reST hyperlink `text <url>`_ renders as <code>text &lt;url&gt;</code>_ in Markdown.
REST_LINK = re.compile(r"</code>_(?!\w)|`[^`<]+<https?://[^>]+>`_")
# A reST literal block opens with "::" at the end of a paragraph.
LITERAL_BLOCK = re.compile(r"::\s*$", re.M)


def _text_outside_code(page: str) -> str:
    """The page's visible prose: no scripts, styles, code blocks or inline code."""
    page = re.sub(r"<(script|style|pre)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<code\b.*?</code>", "CODE", page, flags=re.S)
    page = re.sub(r"<(?:p|li|td|th|h\d|div|dd|dt|br)\b[^>]*>", "\n", page)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs", reason="building the docs needs the docs extra: pip install '.[docs]'")
    pytest.importorskip("mkdocstrings", reason="building the docs needs the docs extra: pip install '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)}
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    # mkdocstrings warns (and --strict fails) when neither Black nor Ruff can format signatures.
    assert "Formatting signatures requires" not in built.stderr
    return out


def _pages(site: Path) -> dict[str, str]:
    return {str(p.relative_to(site)): p.read_text(encoding="utf-8") for p in sorted(site.rglob("*.html"))}


def test_built_docs_show_no_sphinx_or_rest_markup(site: Path) -> None:
    found = []
    for name, page in _pages(site).items():
        text = _text_outside_code(page)
        for pattern in (ROLE, REST_LINK, LITERAL_BLOCK):
            found += [f"{name}: ...{text[max(0, m.start() - 60) : m.end() + 20]!r}" for m in pattern.finditer(text)]
        found += [f"{name}: reST link {m.group(0)!r}" for m in REST_LINK.finditer(page)]
    assert not found, "\n".join(found)


def test_api_reference_has_formatted_signatures_and_no_private_bases(site: Path) -> None:
    page = (site / "api-accessor" / "index.html").read_text(encoding="utf-8")
    signatures = [html.unescape(re.sub(r"<[^>]+>", "", s)) for s in re.findall(r"doc-signature.*?</code>", page, re.S)]
    predict = next(s for s in signatures if "predict(" in s)
    # One parameter a line (formatted by Ruff), not one line cut off at the page's edge.
    assert "\n    model: ModelArg,\n" in predict, predict
    assert "_OpenVINOAccessor" not in page


def test_performance_page_shows_one_chart_per_model(site: Path) -> None:
    page = (site / "performance" / "index.html").read_text(encoding="utf-8")
    charts = re.findall(r'<img[^>]+src="\.\./img/(benchmark-[a-z0-9]+\.png)"', page)
    assert sorted(charts) == ["benchmark-minilm.png", "benchmark-mlp.png", "benchmark-resnet50.png"]
    assert all((site / "img" / chart).is_file() for chart in charts)
    # The key columns stand in tables a page wide; the timing conditions sit in a collapsible block.
    before, _, collapsible = page.partition("<details")
    assert re.search(r"<th[^>]*>x limit</th>", before)
    assert not re.search(r"<th[^>]*>spread</th>", before)
    assert re.search(r"<th[^>]*>spread</th>", collapsible)


def _quickstart_blocks() -> list[tuple[str, str]]:
    """The (language, code) blocks of the quickstart's "Score your own model" sections, in order."""
    text = QUICKSTART.read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.M)
    own = "".join(s for s in sections if s.startswith("Score your own model"))
    return re.findall(r"^```(python|bash)\n(.*?)^```", own, flags=re.M | re.S)


@pytest.mark.cluster
@pytest.mark.slow
def test_quickstart_runs_in_order(tmp_path: Path) -> None:
    blocks = _quickstart_blocks()
    assert [language for language, _ in blocks] == ["python", "bash"]
    (python_code, shell_code) = (code for _, code in blocks)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    (tmp_path / "quickstart.py").write_text(python_code)
    python = subprocess.run(
        [sys.executable, "quickstart.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert python.returncode == 0, python.stdout + python.stderr
    # The comment in the block shows what describe() prints.
    assert "X: f32[?,30]" in python.stdout and "probabilities: f32[?,2]" in python.stdout, python.stdout

    bin_dir = Path(sys.executable).parent  # the dask-openvino script of this environment
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    shell = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", shell_code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shell.returncode == 0, shell.stdout + shell.stderr

    from_python = pd.read_parquet(tmp_path / "scored.parquet")
    from_shell = pd.read_parquet(tmp_path / "scored-cli.parquet")
    assert len(from_python) == len(from_shell) == 569
    assert from_shell["prediction"].tolist() == from_python["prediction"].tolist()
