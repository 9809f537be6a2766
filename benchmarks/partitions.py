"""Partition-size sweep for tabular models: ``python -m benchmarks.partitions``.

Scores the same rows through the MLP with ``.ov.predict`` on the threaded scheduler,
split into partitions of 3,125 to 100,000 rows, reading the Parquet files, over the
partitions already in memory, and over the same rows in memory as one fixed-size list
column (the layout that needs no conversion: the model reads the list's values where
they are), each against OpenVINO alone at the same precision in the same interleaved
rounds (see :mod:`benchmarks.timing`). ``--precision`` is
``.ov.predict``'s: by default its default, ``"auto"``, against OpenVINO alone in the
precision ``"auto"`` chooses on this CPU. Prints a Markdown table of rows/s and ratios to
the limit. It shares the harness's models and data directory, so models built by
``python -m benchmarks`` are reused; about 4 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks import data, models, report, suite
from benchmarks.cli import ROOT
from benchmarks.timing import measure
from dask_openvino.policy import PRECISIONS, choose_precision, cpu_features

PARTITION_ROWS = (3_125, 12_500, 25_000, 100_000)
"""The partition sizes swept, in rows."""

_LIST = "one list column"
_LIST_INPUTS = {"features": "features"}


def sweep(output: Path, rows: int, rounds: int, precision: str = "auto") -> str:
    """Measure every partition size at ``.ov.predict``'s ``precision`` and return the Markdown table."""
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", flush=True)

    files, _ = models.build_in_child(output / "models", ("mlp",))
    sizes = {
        f"{kind}_{size}": (rows, -(-rows // size))
        for size in PARTITION_ROWS
        for kind in ("tabular_sweep", "tabular_list_sweep")
    }
    sets = data.prepare(output / "data", sizes)
    clusters = suite.Clusters()
    group = suite.Group(files["mlp"], sets[f"tabular_sweep_{PARTITION_ROWS[-1]}"], clusters)
    chosen, _ = choose_precision(precision, cpu_features())
    limit = group.limit("fp32", variant=f"{precision}={chosen}", config={"INFERENCE_PRECISION_HINT": chosen})
    for size in PARTITION_ROWS:
        dataset = sets[f"tabular_sweep_{size}"]
        in_memory = suite.read_parquet(dataset.path).persist(scheduler="threads")
        as_list = suite.read_parquet(sets[f"tabular_list_sweep_{size}"].path).persist(scheduler="threads")
        for variant, source, inputs in (
            (f"{size:,} rows a partition", lambda path=dataset.path: suite.read_parquet(path), None),
            (f"{size:,} rows a partition, {report.IN_MEMORY}", lambda frame=in_memory: frame, None),
            (f"{size:,} rows a partition, {_LIST}, {report.IN_MEMORY}", lambda frame=as_list: frame, _LIST_INPUTS),
        ):
            group.predict(
                "fp32",
                "threads",
                variant=variant,
                source=source,
                inputs=inputs,
                rows=rows,
                baseline=limit,
                compute=precision,
            )
    records = measure(group.cases, rounds, log=log)
    report.add_ratios(records)
    lines = [f"| partition rows | data | rows/s ({precision}={chosen}) | x limit |", "|---:|---|---:|---:|"]
    for record in records:
        if not record["baseline"]:
            continue
        size, _, where = record["variant"].partition(" rows a partition")
        kind = "read from Parquet" if not where else f"{_LIST}, in memory" if _LIST in where else "in memory"
        lines.append(f"| {size} | {kind} | {record['rows_per_second']:,.0f} | {record['ratio_to_limit']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m benchmarks.partitions``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.partitions", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows scored by every case")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help=".ov.predict's precision=")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results", help="results directory")
    args = parser.parse_args(argv)
    print(sweep(args.output, args.rows, args.rounds, args.precision))


if __name__ == "__main__":
    main()
