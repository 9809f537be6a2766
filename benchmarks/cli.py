"""Command line of the harness: build, measure, report.

``python -m benchmarks`` runs the full benchmark (14 minutes on a 2-core AMX Xeon) and
refreshes ``docs/benchmark-results.json``, the charts ``docs/img/benchmark-<model>.png`` and the table
in ``docs/performance.md``; ``--quick`` runs a smaller version (under 3 minutes) that
writes only under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import dask

from benchmarks import data, models, reference, report, suite, timing
from dask_openvino.policy import choose_overflow_fix, choose_precision, cpu_features

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mode:
    """Sizes and repetitions of a run."""

    name: str
    images: tuple[int, int]
    tokens: tuple[int, int]
    tabular: tuple[int, int]
    tabular_fine: tuple[int, int] | None
    headline_images: tuple[int, int] | None
    reference_images: tuple[int, int]
    reference_tokens: tuple[int, int]
    reference_rounds: int
    reference_seconds: int
    rounds: int
    tabular_rounds: int
    compile_models: tuple[tuple[str, str], ...]
    memory_models: tuple[str, ...]


FULL = Mode(
    name="full",
    images=(96, 4),
    tokens=(192, 4),
    tabular=(1_000_000, 10),
    tabular_fine=(200_000, 64),
    headline_images=(384, 16),
    reference_images=(192, 8),
    reference_tokens=(768, 8),
    reference_rounds=3,
    reference_seconds=8,
    rounds=4,
    tabular_rounds=4,
    compile_models=(
        ("resnet50", "fp32"),
        ("resnet50", "int8"),
        ("minilm", "fp32"),
        ("minilm", "int8"),
        ("mlp", "fp32"),
    ),
    memory_models=("resnet50", "mlp"),
)
QUICK = Mode(
    name="quick",
    images=(8, 2),
    tokens=(16, 2),
    tabular=(400_000, 4),
    tabular_fine=None,
    headline_images=None,
    reference_images=(24, 2),
    reference_tokens=(48, 2),
    reference_rounds=1,
    reference_seconds=3,
    rounds=2,
    tabular_rounds=2,
    compile_models=(("resnet50", "fp32"), ("mlp", "fp32")),
    memory_models=("mlp",),
)


def _versions() -> dict[str, str]:
    names = ("openvino", "dask", "distributed", "pandas", "pyarrow", "numpy", "onnxruntime", "torch", "nncf")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


CACHED_MODELS = 16
"""Compiled models each benchmark process keeps: every contender of a group stays compiled."""

_PRECISION_FLAGS = frozenset({"amx_bf16", "amx_int8", "amx_tile", "avx512_bf16", "avx512_vnni", "avx512f", "avx_vnni"})
"""The CPU flags that decide precision and INT8 speed, recorded with every run."""


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run(mode: Mode, output: Path) -> dict[str, Any]:
    """Build, measure every group, and return the results (not yet written)."""
    started = time.perf_counter()
    # Contenders interleave up to six compiled models per group; the default bound of four
    # per process would evict and recompile them inside the timed rounds. Set before any
    # cluster starts, so that workers inherit it.
    os.environ["DASK_OPENVINO__CACHE__MAX_MODELS"] = str(CACHED_MODELS)
    dask.config.refresh()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", flush=True)

    load_at_start = timing.load_average()
    log(f"building models in {output / 'models'} (cached between runs)")
    files, build_seconds = models.build_in_child(output / "models", ("resnet50", "minilm", "mlp"))
    sizes = {"images": mode.images, "jpeg": mode.images, "tokens": mode.tokens, "tabular": mode.tabular}
    sizes |= {"images_reference": mode.reference_images, "tokens_reference": mode.reference_tokens}
    if mode.tabular_fine is not None:
        sizes["tabular_fine"] = mode.tabular_fine
        sizes["tabular_list"] = mode.tabular
    if mode.headline_images is not None:
        sizes["images_headline"] = sizes["jpeg_headline"] = mode.headline_images
    log("writing data sets")
    sets = data.prepare(output / "data", sizes)
    log("compile times in fresh processes")
    compile_results = suite.compile_times(files, list(mode.compile_models), from_path=mode.name == "full")
    clusters = suite.Clusters()
    full = mode.name == "full"
    groups = []
    try:
        plans = (
            (
                "mlp",
                mode.tabular_rounds,
                lambda: suite.tabular_group(
                    files["mlp"],
                    sets["tabular"],
                    clusters,
                    fine=sets.get("tabular_fine"),
                    as_list=sets.get("tabular_list"),
                ),
            ),
            (
                "resnet50",
                mode.rounds,
                lambda: suite.image_group(files["resnet50"], sets["images"], sets["jpeg"], clusters, full=full),
            ),
            ("minilm", mode.rounds, lambda: suite.encoder_group(files["minilm"], sets["tokens"], clusters, full=full)),
        )
        for name, rounds, make in plans:
            log(f"group {name}: {rounds} rounds")
            groups.append(suite.run_group(make(), rounds, log))
        if "images_headline" in sets:
            images = sets["images_headline"]
            log(
                f"group resnet50 INT8 against eager PyTorch, {images.rows} images as tensors and as JPEG files: "
                f"{mode.rounds} rounds"
            )
            headline = suite.headline_group(files["resnet50"], images, sets["jpeg_headline"], clusters)
            groups.append(suite.run_group(headline, mode.rounds, log, stages=False))
        memory = []
        for name in mode.memory_models:
            log(f"memory over {5} jobs: {name}")
            dataset = sets["images"] if name == "resnet50" else sets["tabular"]
            memory.append(suite.memory_over_jobs(suite.Group(files[name], dataset, clusters), jobs=5))
    finally:
        clusters.close()
    against = []
    for name, dataset in (("resnet50", "images_reference"), ("minilm", "tokens_reference")):
        log(f"benchmark_app -hint throughput against .ov.predict's defaults: {name}")
        against.append(
            reference.against_benchmark_app(
                files[name], sets[dataset], rounds=mode.reference_rounds, seconds=mode.reference_seconds, log=log
            )
        )
    throughput = [record for group in groups for record in group.pop("records")]
    report.add_ratios(throughput)
    results: dict[str, Any] = {
        "meta": {
            "mode": mode.name,
            "cpu": _cpu(),
            "cpu_flags": sorted(cpu_features().flags & _PRECISION_FLAGS),
            "openvino_capabilities": sorted(cpu_features().capabilities),
            "auto_precision": list(choose_precision("auto", cpu_features())),
            "int8_overflow_fix": list(choose_overflow_fix(None, cpu_features())),
            "cores": os.cpu_count(),
            "versions": _versions(),
            "rounds": mode.rounds,
            "tabular_rounds": mode.tabular_rounds,
            "sizes": {name: {"rows": s.rows, "partitions": s.partitions} for name, s in sets.items()},
            "model_build_seconds": build_seconds,
            "cluster_start_seconds": clusters.start_seconds,
            "load_average_start": round(load_at_start, 2),
            "load_average_end": round(timing.load_average(), 2),
            "seconds": round(time.perf_counter() - started, 1),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        },
        "throughput": throughput,
        "groups": groups,
        "compile": compile_results,
        "memory": memory,
        "benchmark_app": against,
    }
    results["targets"] = report.targets(results)
    return results


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m benchmarks``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller data, fewer rounds: under 3 minutes")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results", help="results directory")
    parser.add_argument("--no-docs", action="store_true", help="do not refresh docs/ (a quick run never does)")
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL
    output: Path = args.output
    output.mkdir(parents=True, exist_ok=True)
    results = run(mode, output)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    json_path = output / f"benchmark-{mode.name}-{stamp}.json"
    json_path.write_text(json.dumps(results, indent=1))
    table = report.markdown(results)
    (output / f"benchmark-{mode.name}-{stamp}.md").write_text(table + "\n")
    charts = report.chart(results, output, stem=f"benchmark-{mode.name}-{stamp}")
    print()
    print(report.summary(results))
    print()
    print(table)
    print(f"\nwrote {json_path}, {', '.join(map(str, charts))}")
    if mode.name == "full" and not args.no_docs:
        shutil.copyfile(json_path, ROOT / "docs" / "benchmark-results.json")
        report.chart(results, ROOT / "docs" / "img")
        report.write_table_into(ROOT / "docs" / "performance.md", table, report.summary(results))
        print(
            "refreshed docs/benchmark-results.json, docs/img/benchmark-<model>.png and the table in docs/performance.md"
        )
