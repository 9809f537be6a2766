"""What precision costs and buys, measured on the user's own rows.

[`check_precision`][dask_openvino.precision.check_precision] answers it.

Before a long job, users want to know how much faster bf16 or INT8 scores their model
on this machine, and how far its predictions move from float32's. ``check_precision``
compiles the model in float32, in the fast float precision the CPU offers (bf16 where
OpenVINO has bf16 kernels, else f16), and, given an INT8 IR or asked to make one on the
sample, in INT8; it times each on a sample of the user's rows and compares every
output with float32's: largest absolute difference, and top-1 agreement for outputs
with a vector per row. ``dask-openvino check MODEL DATA`` prints the same table.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from dask_openvino.cache import get_engine
from dask_openvino.checks import positive_int
from dask_openvino.feeds import sample_feeds
from dask_openvino.plan import InputsArg
from dask_openvino.policy import choose_precision, cpu_features
from dask_openvino.quantize import compare_outputs, quantize
from dask_openvino.spec import ModelSpec, resolve_model

__all__ = ["PrecisionReport", "PrecisionResult", "check_precision"]

_GOOD_AGREEMENT = 0.99
"""Top-1 agreement with float32 below which a precision is not recommended."""

_WORTH_IT = 1.1
"""Speed-up over float32 below which the exact float32 is recommended."""


@dataclass(frozen=True)
class PrecisionResult:
    """One precision's speed and agreement with float32 on the sample.

    Attributes
    ----------
    name : str
        ``"f32"``, ``"bf16"``, ``"f16"`` or ``"INT8"``.
    compiled : str
        The inference precision OpenVINO really compiled with.
    rows_per_second : float
        Sample rows scored per second on this machine (OpenVINO alone, the engine
        ``.ov.predict`` uses, every core of this process).
    max_abs_diff : float
        Largest absolute difference from float32 over every output.
    top1_agreement : float or None
        Share of rows whose arg-max equals float32's, for the first output with a
        vector per row; None when no output has one.
    """

    name: str
    compiled: str
    rows_per_second: float
    max_abs_diff: float
    top1_agreement: float | None


@dataclass(frozen=True)
class PrecisionReport:
    """The outcome of [`check_precision`][dask_openvino.precision.check_precision].

    Attributes
    ----------
    model : str
        The model checked.
    rows : int
        Sample rows.
    cpu : str
        The CPU it ran on: vendor, the flags that decide precision, OpenVINO's capabilities.
    auto : str
        What ``precision="auto"`` compiles on this CPU, and why.
    results : tuple of PrecisionResult
        Float32 first.
    recommendation : str
        One line: the precision to use, and why (at least 1.1x the f32 rows/s with
        top-1 agreement of 99% or more, else f32).
    """

    model: str
    rows: int
    cpu: str
    auto: str
    results: tuple[PrecisionResult, ...]
    recommendation: str

    def table(self) -> Table:
        """Return the results as a ``rich`` table."""
        table = Table(title=f"{self.model}: {self.rows:,} rows on {self.cpu}", title_justify="left")
        for column in ("precision", "compiled as", "rows/s", "x f32", "max abs diff", "top-1 agreement"):
            table.add_column(column, justify="left" if column in ("precision", "compiled as") else "right")
        base = self.results[0].rows_per_second
        for result in self.results:
            table.add_row(
                result.name,
                result.compiled,
                f"{result.rows_per_second:,.0f}",
                f"{result.rows_per_second / base:.2f}",
                f"{result.max_abs_diff:.3g}",
                "-" if result.top1_agreement is None else f"{result.top1_agreement:.2%}",
            )
        return table

    def __str__(self) -> str:
        lines = [f"{self.model}: {self.rows} rows on {self.cpu}"]
        base = self.results[0].rows_per_second
        for r in self.results:
            agreement = "" if r.top1_agreement is None else f", top-1 agreement {r.top1_agreement:.2%}"
            lines.append(
                f"  {r.name} (compiled {r.compiled}): {r.rows_per_second:,.0f} rows/s "
                f"({r.rows_per_second / base:.2f}x f32), max abs diff {r.max_abs_diff:.3g}{agreement}"
            )
        lines += [f"auto: {self.auto}", f"recommendation: {self.recommendation}"]
        return "\n".join(lines)


def _describe_cpu() -> str:
    features = cpu_features()
    wanted = ("amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni", "avx512f", "avx2")
    flags = ", ".join(flag for flag in wanted if flag in features.flags) or "no AVX2"
    return f"{features.vendor or 'unknown CPU'} ({flags}; OpenVINO: {', '.join(sorted(features.capabilities))})"


def _measure(spec: ModelSpec, feeds: dict[str, Any], seconds: float) -> tuple[dict[str, Any], float, str]:
    """Return ``spec``'s outputs on ``feeds``, its rows/s over about ``seconds``, and its compiled precision."""
    engine = get_engine(spec)
    outputs = engine.run(feeds)  # also the warm-up
    n_rows = len(next(iter(feeds.values())))
    runs, started = 0, time.perf_counter()
    while True:
        engine.run(feeds)
        runs += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            break
    return outputs, runs * n_rows / elapsed, engine.settings.get("INFERENCE_PRECISION_HINT", "?")


def _recommend(results: list[PrecisionResult], auto: str) -> str:
    base = results[0]
    good = [r for r in results[1:] if r.top1_agreement is None or r.top1_agreement >= _GOOD_AGREEMENT]
    fastest = max(good, key=lambda r: r.rows_per_second, default=None)
    if fastest is None or fastest.rows_per_second < _WORTH_IT * base.rows_per_second:
        return "f32: no other precision was at least 1.1x faster with top-1 agreement of 99% or more"
    speedup = fastest.rows_per_second / base.rows_per_second
    agreement = "" if fastest.top1_agreement is None else f", top-1 agreement {fastest.top1_agreement:.2%}"
    how = "pass the INT8 IR as the model" if fastest.name == "INT8" else f"precision={fastest.name!r}"
    if fastest.name == auto:
        how += " (what precision='auto' picks on this CPU)"
    text = (
        f"{fastest.name}: {speedup:.2f}x f32 on this machine, max abs diff {fastest.max_abs_diff:.3g}{agreement}; {how}"
    )
    floats = [r for r in results[1:] if r.name != "INT8"]
    int8 = next((r for r in results if r.name == "INT8"), None)
    if int8 is not None and floats and int8.rows_per_second < max(r.rows_per_second for r in floats):
        text += f" (INT8 was slower than {max(floats, key=lambda r: r.rows_per_second).name} here)"
    return text


def check_precision(
    model: ModelSpec | str | os.PathLike[str],
    data: Any,
    *,
    inputs: InputsArg = None,
    rows: int = 1000,
    int8: ModelSpec | str | os.PathLike[str] | None = None,
    quantize_sample: bool = False,
    seconds: float = 1.0,
) -> PrecisionReport:
    """Measure what each precision costs in accuracy and buys in speed, on a sample of ``data``.

    Parameters
    ----------
    model : ModelSpec, str or os.PathLike
        The float IR.
    data : pandas or Dask DataFrame, array, or list or dict of arrays
        The user's rows; ``rows`` of them are sampled (seeded) and mapped to the
        model's inputs as ``.ov.predict(inputs=...)`` maps columns.
    inputs : None, str, list of str, or dict
        Column mapping for DataFrames, as for ``.ov.predict``.
    rows : int, default 1000
        Sample size.
    int8 : ModelSpec, str or os.PathLike, optional
        An INT8 IR of the same model (from [`quantize`][dask_openvino.quantize.quantize]).
    quantize_sample : bool, default False
        Without ``int8``: quantize the model with NNCF, calibrating on the sample
        (up to 300 rows), and check that too. The sample is then also the data the
        INT8 model is judged on, which flatters it: give a separately quantized
        ``int8`` for a fair figure.
    seconds : float, default 1.0
        Timing per precision, after one warm-up call.

    Returns
    -------
    PrecisionReport
        Print it, or ``.table()`` for a ``rich`` table.

    Raises
    ------
    InputSchemaError
        If the data does not fit the model's inputs, or has no rows.
    MissingDependencyError
        With ``quantize_sample``, if NNCF is not installed.

    Examples
    --------
    >>> print(check_precision("model.xml", df, inputs=["f0", "f1", "f2"]))  # doctest: +SKIP
    """
    positive_int(rows, "rows")
    f32 = resolve_model(model, precision="f32")
    feeds = sample_feeds(data, f32, inputs, rows)
    features = cpu_features()
    fast = "bf16" if "BF16" in features.capabilities else "f16"
    candidates: list[tuple[str, ModelSpec]] = [("f32", f32), (fast, f32.with_options(precision=fast))]
    if int8 is None and quantize_sample:
        directory = tempfile.mkdtemp(prefix="dask-openvino-check-")
        int8 = quantize(f32, feeds, subset_size=min(300, rows), output_dir=directory)
    if int8 is not None:
        # The INT8 IR's float parts run in float32 too, so the comparison is of quantization alone.
        candidates.append(("INT8", resolve_model(int8, precision="f32")))
    measured = [(name, *_measure(spec, feeds, seconds)) for name, spec in candidates]
    reference = measured[0][1]
    results = []
    for name, outputs, rate, compiled in measured:
        diffs, agreements = compare_outputs(reference, outputs)
        if name == "INT8":
            compiled = f"int8, {compiled} elsewhere"
        results.append(
            PrecisionResult(
                name=name,
                compiled=compiled,
                rows_per_second=rate,
                max_abs_diff=max(diffs.values(), default=0.0),
                top1_agreement=next(iter(agreements.values()), None),
            )
        )
    auto, reason = choose_precision("auto", features)
    return PrecisionReport(
        model=f32.xml,
        rows=len(next(iter(feeds.values()))),
        cpu=_describe_cpu(),
        auto=f"{auto} ({reason.removeprefix('auto: ')})",
        results=tuple(results),
        recommendation=_recommend(results, auto),
    )
