"""INT8 post-training quantization with NNCF, and a fidelity check of the result.

[`quantize`][dask_openvino.quantize.quantize] calibrates on the data users will score:
a pandas or Dask DataFrame is sampled and its columns are mapped to the model's inputs
exactly as ``.ov.predict(inputs=...)`` maps them.
[`fidelity_report`][dask_openvino.quantize.fidelity_report] then runs the FP32 and the
INT8 model on held-out rows through the same engine as ``.ov.predict``.

NNCF runs in a fresh Python process
([`run_isolated`][dask_openvino.isolation.run_isolated]), like the converters of
[`convert`][dask_openvino.convert] and for the same reason: it reports telemetry by
forking from a background thread, which can hang a concurrent multi-threaded OpenBLAS
call in the caller's process. NNCF is an optional dependency (``dask-openvino[quantize]``).
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import numpy as np
import openvino as ov
import pandas as pd

from dask_openvino.cache import get_engine
from dask_openvino.errors import ConversionError, InputSchemaError, MissingDependencyError, openvino_message
from dask_openvino.feeds import cast_feeds, sample_feeds
from dask_openvino.isolation import run_isolated
from dask_openvino.plan import InputsArg
from dask_openvino.policy import OVERFLOW_FIXES, choose_overflow_fix, cpu_features
from dask_openvino.spec import ModelSpec, resolve_model

logger = logging.getLogger(__name__)

__all__ = ["FidelityReport", "compare_outputs", "fidelity_report", "quantize"]

PRESETS = ("performance", "mixed")
"""NNCF quantization presets: symmetric weights and activations, or asymmetric activations."""

MODEL_TYPES = (None, "transformer")
"""NNCF model types; ``"transformer"`` keeps accuracy-sensitive transformer ops in float."""


def _calibration_items(
    calibration: Any, spec: ModelSpec, inputs: InputsArg, subset_size: int
) -> list[dict[str, np.ndarray]]:
    """Cut calibration data into the batches NNCF feeds to the model, at most ``subset_size`` of them."""
    description = spec.describe()
    batch = (description.inputs[0].batch_size if description.inputs else None) or 1
    if isinstance(calibration, (pd.DataFrame, dd.DataFrame, np.ndarray, list, tuple, Mapping)):
        feeds = sample_feeds(calibration, spec, inputs, subset_size * batch, what="the calibration data")
        n_rows = len(next(iter(feeds.values())))
        if n_rows < batch:
            raise ValueError(f"the model's static batch is {batch} rows; the calibration data has only {n_rows}")
        return [
            {name: array[start : start + batch] for name, array in feeds.items()}
            for start in range(0, n_rows - batch + 1, batch)
        ]
    if not isinstance(calibration, Iterable):
        raise TypeError(
            "calibration must be a pandas or Dask DataFrame, an array, a list or dict of arrays, or an iterable "
            f"of such batches; got {type(calibration).__name__}"
        )
    if inputs is not None:
        raise ValueError("inputs= maps DataFrame columns; batches match the model's inputs by position or by dict key")
    return [
        cast_feeds(item, description, what="a calibration batch") for item in itertools.islice(calibration, subset_size)
    ]


def _quantize_in_child(spec: ModelSpec, items: list[dict[str, np.ndarray]], xml: str, options: dict[str, Any]) -> None:
    """Run ``nncf.quantize`` and save the INT8 IR at ``xml`` (runs in the converter process)."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    ignored = options.pop("ignored_scope")
    model_type = options.pop("model_type")
    advanced = AdvancedQuantizationParameters(overflow_fix=OverflowFix(options.pop("overflow_fix")))
    if isinstance(ignored, Mapping):
        ignored = nncf.IgnoredScope(**ignored)
    try:
        quantized = nncf.quantize(
            spec.read_model(),
            nncf.Dataset(items),
            preset=nncf.QuantizationPreset(options.pop("preset")),
            subset_size=len(items),
            model_type=None if model_type is None else nncf.ModelType(model_type),
            ignored_scope=ignored,
            advanced_parameters=advanced,
            **options,
        )
    except Exception as err:
        raise ConversionError(f"NNCF cannot quantize {spec.xml}:\n" + openvino_message(err, sep="\n")) from None
    ov.save_model(quantized, xml, compress_to_fp16=False)


def quantize(
    model: ModelSpec | str | os.PathLike[str],
    calibration: Any,
    *,
    inputs: InputsArg = None,
    subset_size: int = 300,
    preset: str = "performance",
    output_dir: str | os.PathLike[str] | None = None,
    fast_bias_correction: bool = True,
    model_type: str | None = None,
    ignored_scope: Any = None,
    overflow_fix: str | None = None,
) -> ModelSpec:
    """Quantize an IR to INT8 with NNCF post-training quantization.

    Parameters
    ----------
    model : ModelSpec, str or os.PathLike
        The FP32 (or FP16) IR.
    calibration : DataFrame, array, list or dict of arrays, or iterable of batches
        Representative inputs, without labels:

        * a pandas or Dask DataFrame: ``subset_size`` rows are sampled (seeded) and
          mapped to inputs exactly as ``.ov.predict(inputs=...)`` maps columns;
        * an array (single-input model), a list of arrays in input order, or a dict
          keyed by input name: rows are sampled the same way;
        * any other iterable (a generator, a data loader) yielding such batches:
          the first ``subset_size`` batches are used as they are.
    inputs : None, str, list of str, or dict
        Column mapping for DataFrame calibration data, as for ``.ov.predict``.
    subset_size : int, default 300
        Calibration samples (rows; batches for a static batch size or an iterable).
    preset : {"performance", "mixed"}, default "performance"
        NNCF preset: symmetric quantization, or asymmetric activations (for
        activations that are not centred on zero, e.g. after non-ReLU functions).
    output_dir : str or os.PathLike, optional
        Local directory for ``<stem>-int8.xml`` / ``.bin``; by default a new
        ``tempfile.mkdtemp(prefix="dask-openvino-")`` directory, which is not deleted.
    fast_bias_correction : bool, default True
        NNCF's faster bias correction; ``False`` is slower and sometimes more accurate.
    model_type : {None, "transformer"}, optional
        ``"transformer"`` for transformer models (NNCF keeps sensitive ops in float).
    ignored_scope : nncf.IgnoredScope or dict, optional
        Operations left in float, as an ``nncf.IgnoredScope`` or its keyword
        arguments, e.g. ``{"types": ["Softmax"]}`` or ``{"names": ["logits"]}``.
    overflow_fix : {None, "enable", "first_layer_only", "disable"}, optional
        Which layers get 7-bit weights, which cannot saturate the 16-bit sums of CPUs
        without VNNI or AMX. Left out, it is decided from this process's CPU by
        [`choose_overflow_fix`][dask_openvino.policy.choose_overflow_fix] (all layers
        without VNNI or AMX), and logged; pass ``"enable"`` when the model will run on
        older CPUs than the one quantizing it.

    Returns
    -------
    ModelSpec
        The INT8 IR, with the device and compile configuration of ``model``.

    Raises
    ------
    MissingDependencyError
        If NNCF is not installed.
    ConversionError
        If NNCF fails; its message is included.
    InputSchemaError
        If the calibration data does not match the model's inputs.

    Examples
    --------
    >>> int8 = quantize("model.xml", ddf, inputs=["f0", "f1", "f2"], subset_size=300)  # doctest: +SKIP
    >>> ddf.ov.predict(int8, inputs=["f0", "f1", "f2"])  # doctest: +SKIP
    """
    if importlib.util.find_spec("nncf") is None:
        raise MissingDependencyError(
            "INT8 quantization needs the nncf package: pip install 'dask-openvino[quantize]' (or pip install nncf)"
        )
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
    if subset_size < 1:
        raise ValueError(f"subset_size must be at least 1, got {subset_size}")
    if overflow_fix is not None and overflow_fix not in OVERFLOW_FIXES:
        raise ValueError(f"overflow_fix must be one of {OVERFLOW_FIXES}, got {overflow_fix!r}")
    overflow_fix, reason = choose_overflow_fix(overflow_fix, cpu_features())
    logger.info("quantize: overflow_fix=%s (%s)", overflow_fix, reason)
    spec = resolve_model(model)
    items = _calibration_items(calibration, spec, inputs, subset_size)
    if not items:
        raise ValueError("the calibration data is empty")
    directory = Path(output_dir) if output_dir is not None else Path(tempfile.mkdtemp(prefix="dask-openvino-"))
    directory.mkdir(parents=True, exist_ok=True)
    xml = directory / f"{Path(spec.xml).stem}-int8.xml"
    options = {
        "preset": preset,
        "fast_bias_correction": fast_bias_correction,
        "model_type": model_type,
        "ignored_scope": ignored_scope,
        "overflow_fix": overflow_fix,
    }
    run_isolated(_quantize_in_child, spec, items, str(xml), options)
    return ModelSpec.from_path(xml, device=spec.device, config=spec.config_dict)


@dataclass(frozen=True)
class FidelityReport:
    """How closely a candidate model (e.g. INT8) reproduces a reference (e.g. FP32).

    Attributes
    ----------
    rows : int
        Rows compared.
    max_abs_diff : dict of str to float
        Largest absolute difference per output (keyed by the reference's output names).
    top1_agreement : dict of str to float
        For classifier-like outputs (float, two dimensions, at least two columns):
        the fraction of rows whose arg-max is the same in both models.

    Examples
    --------
    >>> report = fidelity_report(fp32, int8, holdout)  # doctest: +SKIP
    >>> report.top1_agreement["probabilities"] >= 0.99  # doctest: +SKIP
    True
    """

    rows: int
    max_abs_diff: dict[str, float]
    top1_agreement: dict[str, float]

    def __str__(self) -> str:
        lines = [f"{self.rows} rows compared"]
        for name, diff in self.max_abs_diff.items():
            agreement = self.top1_agreement.get(name)
            extra = "" if agreement is None else f", top-1 agreement {agreement:.2%}"
            lines.append(f"  {name}: max abs diff {diff:.3g}{extra}")
        return "\n".join(lines)


def fidelity_report(
    reference: ModelSpec | str | os.PathLike[str],
    candidate: ModelSpec | str | os.PathLike[str],
    data: Any,
    *,
    inputs: InputsArg = None,
) -> FidelityReport:
    """Compare two models with the same inputs and outputs on the same rows.

    Both run through this process's engine cache ([`get_engine`][dask_openvino.get_engine]),
    the engine ``.ov.predict`` uses, each with its own spec's device and configuration.

    Parameters
    ----------
    reference, candidate : ModelSpec, str or os.PathLike
        The models, e.g. the FP32 IR and the output of [`quantize`][dask_openvino.quantize.quantize].
    data : pandas or Dask DataFrame, array, or list or dict of arrays
        Held-out rows (a Dask DataFrame is computed); mapped to inputs as for
        [`quantize`][dask_openvino.quantize.quantize].
    inputs : None, str, list of str, or dict
        Column mapping for DataFrames, as for ``.ov.predict``.

    Returns
    -------
    FidelityReport

    Raises
    ------
    InputSchemaError
        If the data does not match the inputs, or the models' outputs differ in number.

    Examples
    --------
    >>> print(fidelity_report("model.xml", int8_spec, holdout_df, inputs=["f0", "f1"]))  # doctest: +SKIP
    500 rows compared
      probabilities: max abs diff 0.0132, top-1 agreement 99.80%
    """
    reference_spec, candidate_spec = resolve_model(reference), resolve_model(candidate)
    feeds = sample_feeds(data, reference_spec, inputs, None, what="the holdout data")
    expected = get_engine(reference_spec).run(feeds)
    got = get_engine(candidate_spec).run(feeds)
    max_abs_diff, top1 = compare_outputs(expected, got)
    rows = len(next(iter(feeds.values()))) if feeds else 0
    return FidelityReport(rows=rows, max_abs_diff=max_abs_diff, top1_agreement=top1)


def compare_outputs(
    expected: Mapping[str, np.ndarray], got: Mapping[str, np.ndarray]
) -> tuple[dict[str, float], dict[str, float]]:
    """Compare two models' outputs for the same rows, output by output.

    Outputs are paired by name, or by position when the names differ (an INT8 IR may
    rename them).

    Parameters
    ----------
    expected, got : mapping of str to numpy.ndarray
        The reference's and the candidate's outputs.

    Returns
    -------
    max_abs_diff : dict of str to float
        Largest absolute difference per output, keyed by the reference's names.
    top1_agreement : dict of str to float
        For float outputs of two dimensions with at least two columns: the share of
        rows whose arg-max is the same in both.

    Raises
    ------
    InputSchemaError
        If the models do not have the same number of outputs.

    Examples
    --------
    >>> compare_outputs({"p": np.array([[0.1, 0.9], [0.8, 0.2]])}, {"p": np.array([[0.2, 0.8], [0.4, 0.6]])})
    ({'p': 0.4}, {'p': 0.5})
    """
    if len(expected) != len(got):
        raise InputSchemaError(f"the models' outputs differ: {sorted(expected)} and {sorted(got)}")
    pairs = (
        [(name, expected[name], got[name]) for name in expected]
        if set(expected) == set(got)
        else [(name, a, b) for (name, a), b in zip(expected.items(), got.values(), strict=True)]
    )
    max_abs_diff: dict[str, float] = {}
    top1: dict[str, float] = {}
    for name, a, b in pairs:
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        max_abs_diff[name] = float(np.max(np.abs(a64 - b64))) if a.size else 0.0
        if a.dtype.kind == "f" and a.ndim == 2 and a.shape[1] >= 2 and len(a):
            top1[name] = float(np.mean(np.argmax(a, axis=1) == np.argmax(b, axis=1)))
    return max_abs_diff, top1
