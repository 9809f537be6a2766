"""Turn the measurements into ratios, target verdicts, a Markdown table and a bar chart."""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Any

TABLE_START = "<!-- benchmark-table:start -->"
TABLE_END = "<!-- benchmark-table:end -->"

IN_MEMORY = "data in memory"
"""Variant of the tabular cases whose partitions were read and persisted before timing."""

HEADLINE = " images"
"""The headline group's variants start with the job's size and this: ``"384 images"``."""

FROM_JPEG = " from JPEG"
"""Follows ``HEADLINE`` in the variants of the headline group's cases that score JPEG files."""

MODEL_TITLES = {
    "resnet50": "ResNet-50 224x224",
    "minilm": "MiniLM-L6 encoder, seq 128",
    "mlp": "Tabular MLP, 64 features",
}


def add_ratios(records: list[dict[str, Any]]) -> None:
    """Give every record its throughput relative to its baseline (contender 1).

    ``ratio_to_limit`` is the median over rounds of the case's throughput over its
    baseline's in the run just before it (seconds apart, under the same load);
    ``ratio_of_medians`` divides the two medians.
    """
    by_key = {r["key"]: r for r in records}
    for record in records:
        if not record["baseline"]:
            record["ratio_per_round"] = [1.0] * len(record["seconds"])
            record["ratio_to_limit"] = record["ratio_of_medians"] = 1.0
            continue
        base = by_key[record["baseline"]]
        per_round = [
            (record["rows"] / mine) / (base["rows"] / theirs)
            for mine, theirs in zip(record["seconds"], record["baseline_seconds"], strict=True)
        ]
        record["ratio_per_round"] = [round(r, 3) for r in per_round]
        record["ratio_to_limit"] = round(statistics.median(per_round), 3)
        record["ratio_of_medians"] = round(record["rows_per_second"] / base["rows_per_second"], 3)


def _find(records: list[dict[str, Any]], **match: str) -> dict[str, Any] | None:
    for record in records:
        if all(record.get(k) == v for k, v in match.items()):
            return record
    return None


def _default_precision(
    records: list[dict[str, Any]], model: str, threshold: float, *, in_memory: bool = False
) -> dict[str, Any] | None:
    """The verdict on ``.ov.predict`` in its default precision (an ``auto=...`` variant) on threads, if measured."""
    for r in records:
        variant = r["variant"]
        if (
            (r["model"], r["contender"], r["scheduler"]) == (model, "ov.predict", "threads")
            and variant.startswith("auto=")
            and variant.endswith(IN_MEMORY) == in_memory
        ):
            return _verdict(
                f"{model}: ov.predict default precision ({variant}) threads / limit in that precision",
                r["ratio_to_limit"],
                threshold,
                r["key"],
            )
    return None


def _verdict(name: str, value: float | None, threshold: float, detail: str, *, above: bool = True) -> dict[str, Any]:
    met = None if value is None else (value >= threshold if above else value <= threshold)
    comparison = ">=" if above else "<="
    return {
        "target": name,
        "value": value,
        "comparison": comparison,
        "threshold": threshold,
        "met": met,
        "detail": detail,
    }


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Check the issue's targets against one run's results."""
    records = results["throughput"]
    verdicts = []
    # The targets of the speed issue: each ratio against OpenVINO alone in the same precision, same run.
    for model, threaded, clustered in (("resnet50", 0.90, 0.85), ("minilm", 0.90, 0.85), ("mlp", 0.85, None)):
        found = _find(records, model=model, precision="fp32", contender="ov.predict", scheduler="threads", variant="")
        if found:
            verdicts.append(
                _verdict(f"{model}: ov.predict threads / limit", found["ratio_to_limit"], threaded, found["key"])
            )
        auto = _default_precision(records, model, threaded)
        if auto and model != "mlp":  # the MLP's is judged with its data in memory
            verdicts.append(auto)
        for shape in ("cluster 1x2", "cluster 2x1"):
            found = _find(records, model=model, precision="fp32", contender="ov.predict", scheduler=shape, variant="")
            if found and clustered is not None:
                verdicts.append(
                    _verdict(f"{model}: ov.predict {shape} / limit", found["ratio_to_limit"], clustered, found["key"])
                )
    verdicts += _tabular_targets(records)
    for run in results.get("benchmark_app", []):
        if "error" in run:
            continue
        verdicts.append(
            _verdict(
                f"{run['model']}: ov.predict defaults / benchmark_app -hint throughput's own defaults",
                run["ratio"],
                0.90,
                f"{run['rows']} rows from Parquet against {run['benchmark_app_seconds']} s of benchmark_app, "
                f"batch {run['batch']}",
            )
        )
    fp32 = _find(records, model="resnet50", precision="fp32", contender="ov.predict", scheduler="threads", variant="")
    int8 = _find(records, model="resnet50", precision="int8", contender="ov.predict", scheduler="threads", variant="")
    eager = _find(records, model="resnet50", contender="pytorch-eager", variant="")
    if fp32 and int8:
        ratio = round(int8["rows_per_second"] / fp32["rows_per_second"], 2)
        verdicts.append(_verdict("resnet50: INT8 / our FP32 (threads)", ratio, 2.0, "ov.predict threads"))
    # On the headline group's longer jobs when the run has them (a full run), else on the image group's.
    headline = [r for r in records if r["model"] == "resnet50" and r["variant"].endswith(HEADLINE)]
    if headline:
        tensors = headline[0]["variant"]
        for variant, data in ((tensors, "f32 tensors in Parquet"), (tensors + FROM_JPEG, "JPEG files in Parquet")):
            int8 = _find(records, model="resnet50", precision="int8", contender="ov.predict", variant=variant)
            eager = _find(records, model="resnet50", contender="pytorch-eager", variant=variant)
            if int8 and eager:
                ratio = round(int8["rows_per_second"] / eager["rows_per_second"], 2)
                detail = f"{int8['rows']} images, threads; the paper: about 12x"
                verdicts.append(_verdict(f"resnet50: INT8 / eager PyTorch pipeline, {data}", ratio, 12.0, detail))
        for start, data in ((f"{tensors}, auto=", "f32 tensors"), (f"{tensors}{FROM_JPEG}, auto=", "JPEG files")):
            for r in records:
                ours = (r["model"], r["contender"], r["scheduler"]) == ("resnet50", "ov.predict", "threads")
                if ours and r["variant"].startswith(start):
                    precision = r["variant"].rsplit("=", 1)[1]
                    name = f"resnet50: ov.predict default precision ({precision}) threads, {r['rows']} {data} / limit"
                    verdicts.append(_verdict(name, r["ratio_to_limit"], 0.90, r["key"]))
    elif int8 and eager:
        ratio = round(int8["rows_per_second"] / eager["rows_per_second"], 2)
        verdicts.append(
            _verdict("resnet50: INT8 / eager PyTorch pipeline", ratio, 12.0, "threads; the paper: about 12x")
        )
    for model in ("resnet50", "minilm", "mlp"):
        ort = _find(records, model=model, contender="onnxruntime", variant="")
        for variant, label in (("", "FP32 ov.predict"), ("bf16", "FP32 ov.predict in bf16")):
            ours = _find(
                records, model=model, precision="fp32", contender="ov.predict", scheduler="threads", variant=variant
            )
            if ours and ort:
                ratio = round(ours["rows_per_second"] / ort["rows_per_second"], 2)
                verdicts.append(_verdict(f"{model}: {label} / ONNX Runtime pipeline", ratio, 1.0, "threads"))
    for group in results["groups"]:
        for shape, workers in group["worker_caches"].items():
            expected = group["expected_compiles"].get(shape, 0)
            counts = [w["compiles"] for w in workers]
            verdicts.append(
                _verdict(
                    f"{group['model']}: compiles per worker on {shape} = models used",
                    float(max(counts) if counts else 0),
                    float(expected),
                    f"compiles per worker {counts}, distinct models run there {expected}",
                    above=False,
                )
            )
    for model, precision in sorted({(c["model"], c["precision"]) for c in results["compile"]}):
        rows = {c["variant"]: c for c in results["compile"] if c["model"] == model and c["precision"] == precision}
        cold, warm = rows.get("no cache"), rows.get("CACHE_DIR, second worker")
        if cold and warm and warm["load_and_compile_s"] > 0:
            ratio = round(cold["load_and_compile_s"] / warm["load_and_compile_s"], 2)
            verdicts.append(
                _verdict(
                    f"{model} {precision}: compile cache speed-up, second worker",
                    ratio,
                    1.0,
                    f"{cold['load_and_compile_s']}s without, {warm['load_and_compile_s']}s with CACHE_DIR",
                )
            )
    for memory in results["memory"]:
        footprint = _footprint(results["compile"], memory["model"])
        bound = round(footprint + memory["batches_and_partitions_mib"], 1)
        verdicts.append(
            _verdict(
                f"{memory['model']}: worker peak RSS above baseline, jobs 2-{memory['jobs']} (MiB)",
                _peak_growth(memory, first=1),
                bound,
                f"compiled model after first inference {footprint} MiB (weights file {memory['weights_mib']} MiB) "
                f"+ 4 batches + 2 partitions {memory['batches_and_partitions_mib']} MiB; job 1 (compiles) peaked "
                f"at {_peak_growth(memory, first=0, last=1)} MiB",
                above=False,
            )
        )
        verdicts.append(
            _verdict(
                f"{memory['model']}: RSS growth from job 2 to job {memory['jobs']}, free memory released (MiB)",
                _drift(memory),
                16.0,
                "per worker, largest",
                above=False,
            )
        )
    return verdicts


def _tabular_targets(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The MLP's targets once reading is set apart: data in memory, and the bound reading leaves.

    On a machine where reading the Parquet files takes about as long as the whole
    inference, reading and inference sharing the cores cap the pipeline at
    ``1 / (1 + limit_time / read_time)`` of the limit; the with-reading case is also
    judged against that bound.
    """
    verdicts = []
    mine = {"model": "mlp", "precision": "fp32", "scheduler": "threads"}
    in_memory = _find(records, **mine, contender="ov.predict", variant=IN_MEMORY)
    ort_in_memory = _find(records, **mine, contender="onnxruntime", variant=IN_MEMORY)
    reading = _find(records, **mine, contender="read_parquet only", variant="")
    with_reading = _find(records, **mine, contender="ov.predict", variant="")
    if in_memory:
        verdicts.append(
            _verdict("mlp: ov.predict f32 threads, data in memory / f32 limit", in_memory["ratio_to_limit"], 0.90, "")
        )
    auto = _default_precision(records, "mlp", 0.90, in_memory=True)
    if auto:
        verdicts.append(auto)
    if in_memory and ort_in_memory:
        ratio = round(in_memory["rows_per_second"] / ort_in_memory["rows_per_second"], 2)
        verdicts.append(_verdict("mlp: FP32 ov.predict / ONNX Runtime pipeline, data in memory", ratio, 1.0, ""))
    if reading and with_reading:
        bound = 1 / (1 + 1 / reading["ratio_to_limit"])
        verdicts.append(
            _verdict(
                "mlp: ov.predict threads / bound of reading + inference",
                round(with_reading["ratio_to_limit"] / bound, 3),
                0.85,
                f"bound {bound:.3f} of the limit, from read_parquet only at {reading['ratio_to_limit']} x limit",
            )
        )
    return verdicts


def _footprint(compiled: list[dict[str, Any]], model: str) -> float:
    """RSS a fresh process gained from compiling ``model`` (FP32) and running one row."""
    for row in compiled:
        if row["model"] == model and row["precision"] == "fp32" and row["variant"] == "no cache":
            return float(row["model_mib_after_first_inference"])
    raise KeyError(f"no compile measurement of {model} fp32 to size its memory bound")


def _peak_growth(memory: dict[str, Any], *, first: int, last: int | None = None) -> float:
    """The largest peak RSS above the worker's baseline over jobs ``first:last`` and all workers."""
    base = {w["pid"]: w["rss_mib"] for w in memory["baseline"]}
    jobs = memory["per_job"][first:last]
    return round(max(w["peak_rss_mib"] - base.get(w["pid"], 0.0) for job in jobs for w in job["workers"]), 1)


def _drift(memory: dict[str, Any]) -> float:
    """How much a worker's resident memory grew from the second job to the last, largest over workers.

    Measured once the allocators have handed back what no object uses
    (``released_rss_mib``): the RSS a job leaves otherwise moves by a partition or more
    as they keep memory or return it (``docs/performance.md``, "Memory").
    """
    jobs = memory["per_job"]
    first = {w["pid"]: w["released_rss_mib"] for w in jobs[min(1, len(jobs) - 1)]["workers"]}
    last = jobs[-1]["workers"]
    return round(max(w["released_rss_mib"] - first.get(w["pid"], w["released_rss_mib"]) for w in last), 1)


def _label(record: dict[str, Any]) -> str:
    label = record["contender"]
    if record["scheduler"] != "-":
        label += f" [{record['scheduler']}]"
    if record["variant"]:
        label += f" ({record['variant']})"
    return label


def _by_model(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The throughput records of each model, in the order of ``MODEL_TITLES`` (unknown models last)."""
    records = results["throughput"]
    models = [m for m in MODEL_TITLES if any(r["model"] == m for r in records)]
    models += sorted({r["model"] for r in records} - set(models))
    return {m: [r for r in records if r["model"] == m] for m in models}


def _title(model: str) -> str:
    return MODEL_TITLES.get(model, model)


def markdown(results: dict[str, Any]) -> str:
    """The throughput tables (one per model, then every column) and the target verdicts, as Markdown.

    The per-model tables hold the columns a reader compares (precision, contender,
    rows/s, ratio to the limit) and fit a page's width; the conditions of each timing
    (spread, load average, others' CPU share) follow in one collapsible table.
    """
    lines: list[str] = []
    for model, records in _by_model(results).items():
        lines += [
            f"**{_title(model)}**",
            "",
            "| precision | contender [scheduler] (variant) | rows/s | x limit |",
            "|---|---|---:|---:|",
        ]
        lines += [
            f"| {r['precision']} | {_label(r)} | {r['rows_per_second']:,.1f} | {r['ratio_to_limit']:.2f} |"
            for r in records
        ]
        lines.append("")
    lines += [
        '??? note "Conditions of each timing: spread over rounds, load average, others\' CPU share"',
        "",
        "    | model | precision | contender [scheduler] (variant) | spread | load | others |",
        "    |---|---|---|---:|---:|---:|",
    ]
    for r in results["throughput"]:
        load = statistics.median(r["load_average"])
        others = statistics.median(r["others_cpu_share"])
        lines.append(
            f"    | {r['model']} | {r['precision']} | {_label(r)} | {r['spread']:.0%} | {load:.1f} | {others:.0%} |"
        )
    stages = [group for group in results.get("groups", []) if "partition_ms" in group.get("breakdown", {})]
    repeats = {group["breakdown"].get("repeats", 5) for group in stages}
    if stages:
        lines += [
            "",
            f"**Where one partition's time goes** (`.ov.predict` in process, its default precision, median of "
            f"{'/'.join(map(str, sorted(repeats)))}; conversion overlaps inference, so the stages do not add up to "
            "the partition)",
            "",
            "| model | rows | precision | convert columns ms | infer ms (rows already contiguous) | partition ms |",
            "|---|---:|---|---:|---:|---:|",
        ]
        for group in stages:
            b = group["breakdown"]
            lines.append(
                f"| {group['model']} | {b['partition_rows']:,} | {b['precision']} | {b['feeds_ms']:.1f} | "
                f"{b['infer_ms']:.1f} ({b['infer_contiguous_ms']:.1f}) | {b['partition_ms']:.1f} |"
            )
    if results.get("benchmark_app"):
        lines += [
            "",
            "**Against `benchmark_app -hint throughput` (OpenVINO's own defaults, same IR and batch)**",
            "",
            "| model | batch | benchmark_app rows/s (its precision, streams, pinning) | `.ov.predict` defaults rows/s "
            "(precision) | ratio |",
            "|---|---:|---|---|---:|",
        ]
        for run in results["benchmark_app"]:
            if "error" in run:
                lines.append(f"| {run['model']} | - | benchmark_app failed: {run['error'][:200]} | - | - |")
                continue
            theirs, ours = run["benchmark_app_settings"], run.get("ov_predict_settings", {})
            lines.append(
                f"| {run['model']} | {run['batch']} | {statistics.median(run['benchmark_app_rows_per_second']):,.1f} "
                f"({theirs.get('INFERENCE_PRECISION_HINT', '?')}, {theirs.get('NUM_STREAMS', '?')} streams, "
                f"pinning {theirs.get('ENABLE_CPU_PINNING', '?')}) | "
                f"{statistics.median(run['ov_predict_rows_per_second']):,.1f} "
                f"({ours.get('INFERENCE_PRECISION_HINT', '?')}, {ours.get('NUM_STREAMS', '?')} streams, "
                f"pinning {ours.get('ENABLE_CPU_PINNING', '?')}) | {run['ratio']:.2f} |"
            )
    lines += ["", "**Targets**", "", "| target | measured | threshold | met |", "|---|---:|---:|---|"]
    for t in results["targets"]:
        met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
        lines.append(f"| {t['target']} | {t['value']} | {t['comparison']} {t['threshold']} | {met} |")
    return "\n".join(lines)


def write_table_into(page: Path, table: str, summary: str) -> None:
    """Replace the generated section of ``page`` (between the markers) with ``summary`` and ``table``."""
    text = page.read_text()
    block = f"{TABLE_START}\n{summary}\n\n{table}\n{TABLE_END}"
    pattern = re.compile(re.escape(TABLE_START) + ".*?" + re.escape(TABLE_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{page} has no {TABLE_START} ... {TABLE_END} section to fill")
    page.write_text(pattern.sub(lambda _: block, text))


def summary(results: dict[str, Any]) -> str:
    """One paragraph on where, when and with what the run was measured.

    Runs recorded before the harness noted the CPU flags and the precision ``"auto"``
    chose say nothing about them, rather than a guess.
    """
    meta = results["meta"]
    machine = f"{meta['cores']} cores, shared"
    if "cpu_flags" in meta:
        machine += f"; flags {', '.join(meta['cpu_flags']) or 'none of AMX/AVX512'}"
    if meta.get("auto_precision"):
        machine += f'; precision="auto" chose {meta["auto_precision"][0]}'
    if meta.get("int8_overflow_fix"):
        machine += f"; INT8 models quantized with overflow fix {meta['int8_overflow_fix'][0]!r}"
    return (
        f"Measured {meta['date']} on {meta['cpu']} ({machine}), {meta['mode']} run in "
        f"{meta['seconds']:.0f} s; median of {meta['rounds']} interleaved rounds ({meta['tabular_rounds']} for the "
        f"MLP); load average {meta['load_average_start']} at the start, {meta['load_average_end']} at the end. "
        f"OpenVINO {meta['versions']['openvino']}, ONNX Runtime {meta['versions']['onnxruntime']}, "
        f"PyTorch {meta['versions']['torch']}, Dask {meta['versions']['dask']}."
    )


# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), one per contender.
COLOURS = {
    "openvino-alone": "#0072B2",
    "ov.predict": "#009E73",
    "ov.predict from JPEG": "#56B4E9",
    "df.ov.predict (pandas, in process)": "#CC79A7",
    "openvino by hand": "#F0E442",
    "onnxruntime": "#E69F00",
    "pytorch-eager": "#D55E00",
    "read_parquet only": "#999999",
}
SPARE_COLOURS = ("#000000", "#882255", "#44AA99", "#117733", "#AA4499", "#332288")


def _colours(contenders: list[str]) -> dict[str, str]:
    """A colour for each contender: its own, or a spare one no other contender has."""
    spare = iter(SPARE_COLOURS)
    return {c: COLOURS[c] if c in COLOURS else next(spare, "#666666") for c in dict.fromkeys(contenders)}


def _rate(rows_per_second: float) -> str:
    """Rows per second to three significant figures at least (29.8, 936,394)."""
    return f"{rows_per_second:,.1f}" if rows_per_second < 100 else f"{rows_per_second:,.0f}"


def chart_paths(results: dict[str, Any], directory: Path, stem: str = "benchmark") -> dict[str, Path]:
    """Where ``chart`` writes each model's chart: ``directory/<stem>-<model>.png``."""
    return {model: directory / f"{stem}-{model}.png" for model in _by_model(results)}


def chart(results: dict[str, Any], directory: Path, stem: str = "benchmark") -> list[Path]:
    """One horizontal bar chart per model: each case's throughput as a fraction of its limit.

    Sized to be read at a documentation page's width (720 px wide, about its display width; 10 pt labels), with
    a legend of the contenders, one colour each. Returns the paths written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    meta = results["meta"]
    paths = chart_paths(results, directory, stem)
    directory.mkdir(parents=True, exist_ok=True)
    for model, records in _by_model(results).items():
        # Group each limit with the cases measured against it (fp32, int8, bf16), top to bottom.
        baselines = list(dict.fromkeys(r["baseline"] or r["key"] for r in records))
        group = {id(r): baselines.index(r["baseline"] or r["key"]) for r in records}
        rows = sorted(records, key=lambda r: group[id(r)])[::-1]
        colours = _colours([r["contender"] for r in records])
        figure, axis = plt.subplots(figsize=(7.2, 2.2 + 0.32 * len(rows)), dpi=100)
        labels = [("INT8  " if r["precision"] == "int8" else "") + _label(r) for r in rows]
        values = [r["ratio_to_limit"] for r in rows]
        # Read-only rows run several times faster than the limit: clip them so the others stay legible.
        right = max(1.6, min(2.0, max(values) * 1.1))
        bars = axis.barh(
            labels,
            [min(v, right) for v in values],
            color=[colours[r["contender"]] for r in rows],
            edgecolor="#333333",
            linewidth=0.5,
        )
        axis.set_xlim(0, right)
        for bar, value, r in zip(bars, values, rows, strict=True):
            axis.text(
                bar.get_width() + 0.02,
                bar.get_y() + bar.get_height() / 2,
                f"{value:.2f}  ({_rate(r['rows_per_second'])}/s)",
                va="center",
                fontsize=9.5,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.8, "alpha": 0.85},
            )
        for edge in range(1, len(baselines)):
            below = sum(1 for r in rows if group[id(r)] >= edge)
            axis.axhline(below - 0.5, color="#999999", linewidth=0.8)
        axis.axvline(1.0, color="black", linewidth=1.0, linestyle="--")
        axis.set_ylim(-0.6, len(rows) - 0.4)
        axis.tick_params(axis="both", labelsize=10)
        axis.set_xlabel("ratio to OpenVINO alone at the same precision (dashed: 1.0)", fontsize=10, loc="right")
        for side in ("top", "right"):
            axis.spines[side].set_visible(False)
        figure.suptitle(
            f"{_title(model)}: throughput relative to OpenVINO alone (rows/s in brackets)\n"
            f"{meta['cpu']}, {meta['cores']} cores, {meta['mode']} run of {meta['date']}, "
            f"median of {meta['rounds']} rounds",
            x=0.01,
            ha="left",
            fontsize=10.5,
        )
        handles = [
            Patch(facecolor=colour, edgecolor="#333333", linewidth=0.5, label=c) for c, colour in colours.items()
        ]
        legend_rows = (len(colours) + 2) // 3
        figure.legend(handles=handles, loc="lower left", ncol=3, fontsize=9.5, frameon=False, bbox_to_anchor=(0, 0))
        height = figure.get_figheight()
        figure.tight_layout(rect=(0, (0.1 + 0.22 * legend_rows) / height, 1, 1 - 0.2 / height))
        figure.savefig(paths[model])
        plt.close(figure)
    return list(paths.values())


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.report``: redraw the docs' charts and table from a results JSON."""
    import argparse
    import json

    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=main.__doc__)
    parser.add_argument("results", nargs="?", type=Path, default=root / "docs" / "benchmark-results.json")
    parser.add_argument("--docs", type=Path, default=root / "docs", help="docs folder to refresh (img/ and the page)")
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text())
    for path in chart(results, args.docs / "img"):
        print(f"wrote {path}")
    write_table_into(args.docs / "performance.md", markdown(results), summary(results))
    print(f"refreshed the table in {args.docs / 'performance.md'}")


if __name__ == "__main__":
    main()
