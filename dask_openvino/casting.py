"""Arrays checked against a model's inputs and cast to their element types, refusing casts that lose information.

Every array fed to a model passes through [`check_feeds`][dask_openvino.casting.check_feeds]
(names, ranks, dimensions and row counts) and
[`to_port_dtype`][dask_openvino.casting.to_port_dtype]: exact casts are plain
``astype`` calls, and a cast that would change a value (out of range, fractional
into an integer input, NaN into an integer input) raises
[`InputSchemaError`][dask_openvino.errors.InputSchemaError] naming the source.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import openvino as ov
import pandas as pd

from dask_openvino.errors import InputSchemaError, InputValueError
from dask_openvino.spec import ModelDescription, PortInfo

__all__ = ["check_feeds", "check_input_names", "computed_types", "row_label", "to_port_dtype"]


def to_port_dtype(
    array: np.ndarray,
    port: PortInfo,
    *,
    source: str,
    computed: Mapping[str, str] | None = None,
    index: pd.Index | None = None,
) -> np.ndarray:
    """Cast ``array`` to the element type of ``port``, refusing casts that change a value.

    Float to float casts are allowed (values beyond the target's range raise);
    NaN and infinity pass through to float ports. Integers into float ports must be
    exactly representable (``16_777_217`` is not a float32). Casts to integer ports
    require finite, whole values within the target's range; booleans accept only 0
    and 1. Where the device computes the input in a narrower type than the port's
    (``computed``, from [`computed_types`][dask_openvino.casting.computed_types]),
    values must also fit that type's range. The checks are whole-array reductions;
    only a failing array is looked at value by value, to name the first offender.

    Parameters
    ----------
    array : numpy.ndarray
        The values to cast, one row per first-axis entry.
    port : PortInfo
        The model input they feed.
    source : str
        What the values came from (a column name, "input 0"), for messages.
    computed : mapping of str to str, optional
        Input name -> the element type the device computes that input in, where
        narrower than the port's.
    index : pandas.Index, optional
        Row labels of ``array``, to name the first offending row by label.

    Returns
    -------
    numpy.ndarray
        An array of ``port.dtype`` in ``array``'s memory order (``array`` itself when
        nothing changes); the engine makes each batch contiguous as it sends it.

    Raises
    ------
    InputValueError
        If the cast would change a value; its ``rows`` mark the offending rows.
    InputSchemaError
        If the array's dtype is not numeric.

    Examples
    --------
    >>> port = PortInfo("x", "f32", (None,))
    >>> to_port_dtype(np.array([1, 16_777_217]), port, source="column 'a'")
    Traceback (most recent call last):
    ...
    dask_openvino.errors.InputValueError: column 'a' holds integers that float32 cannot hold exactly (first ...
    """
    target = port.dtype
    device = (computed or {}).get(port.name)
    if array.dtype.kind not in "biuf":
        raise InputSchemaError(f"{source} has dtype {array.dtype}, but model input {port} needs {target}")
    if array.dtype == target and device is None:
        return array
    if array.size and (problem := _find_problem(array, port, device)) is not None:
        bad, what, tail = problem
        rows = np.asarray(bad.reshape(len(array), -1).any(axis=1) if array.ndim > 1 else bad)
        first = int(np.flatnonzero(bad.reshape(-1))[0])
        row = first // max(1, array.size // len(array))
        label = row_label(index, row) if index is not None else f"row {row}"
        count = int(rows.sum())
        raise InputValueError(
            f"{source} holds {what} (first {array.reshape(-1)[first].item()!r}, at {label}; {count} of "
            f"{len(array)} rows), {tail}",
            rows=rows,
            reason=f"{source} holds {what}, {tail}",
        )
    return array if array.dtype == target else array.astype(target)


_BF16_MAX = 3.3895313892515355e38


def row_label(index: pd.Index, position: int) -> str:
    """Name the row at ``position`` by its index label, as the errors do (``8``, not ``np.int64(8)``).

    Examples
    --------
    >>> row_label(pd.Index([7, 8]), 1)
    'row 8'
    >>> row_label(pd.Index(["a", "b"]), 0)
    "row 'a'"
    >>> row_label(pd.MultiIndex.from_tuples([(1, "a"), (2, "b")]), 1)
    "row (2, 'b')"
    """
    # tolist() gives plain values, a MultiIndex's tuples included; an object Index keeps numpy scalars.
    label = index[position : position + 1].tolist()[0]
    return f"row {(label.item() if isinstance(label, np.generic) else label)!r}"


Problem = tuple[np.ndarray, str, str]
"""Mask of the values a cast would change, what they are, and what the input needs."""


def _float_max(element_type: str) -> float:
    if element_type == "bf16":
        return _BF16_MAX
    return float(np.finfo(np.dtype(getattr(ov.Type, element_type).to_dtype())).max)


def _find_problem(array: np.ndarray, port: PortInfo, device: str | None) -> Problem | None:
    """Return the values the cast (or the device) would change, or None when it changes none."""
    target, kind = port.dtype, array.dtype.kind
    if kind == "b" and target.kind != "b":
        return None
    if target.kind == "f":
        return _into_float(array, port, device)
    if target.kind in "iu":
        return _into_integer(array, port, device)
    bad = (array != 0) & (array != 1)
    return (bad, "values other than 0 and 1", f"but model input {port} needs booleans") if bad.any() else None


def _into_float(array: np.ndarray, port: PortInfo, device: str | None) -> Problem | None:
    target = port.dtype
    if array.dtype.kind == "f":
        limit = float(np.finfo(target).max)
        name, narrowed = str(target), device is not None and _is_float(device) and _float_max(device) < limit
        if narrowed and device is not None:
            limit, name = _float_max(device), f"{device}, the type the device computes model input {port.name!r} in"
        low, high = np.fmin.reduce(array, axis=None), np.fmax.reduce(array, axis=None)
        if np.float64(-limit) <= low and high <= np.float64(limit):
            return None
        # Infinity passes through to a float input, except where the device narrows it: the
        # CPU plugin turns a float64 infinity into float32's largest value.
        with np.errstate(invalid="ignore"):
            bad = np.abs(array) > np.float64(limit)
            if not narrowed:
                bad &= np.isfinite(array)
        if not bad.any():
            return None
        return bad, f"values beyond the range of {name} (|x| <= {limit:.4g})", f"for model input {port}"
    name = str(target)
    if device == "f32" and target == np.float64:  # an f64 input the CPU computes in f32 rounds integers as f32 does
        target, name = np.dtype(np.float32), f"float32, the type the device computes model input {port.name!r} in,"
    exact = 2 ** (np.finfo(target).nmant + 1)
    if -exact <= int(array.min()) and int(array.max()) <= exact:
        return None
    bad = _inexact_in(array, target)
    if not bad.any():
        return None
    return bad, f"integers that {name} cannot hold exactly", f"so model input {port} would get them rounded"


def _into_integer(array: np.ndarray, port: PortInfo, device: str | None) -> Problem | None:
    target = port.dtype
    info = np.iinfo(target)
    lo, hi, where = int(info.min), int(info.max), f"of {target}"
    if device is not None and not _is_float(device):
        narrow = np.iinfo(np.dtype(getattr(ov.Type, device).to_dtype()))
        if narrow.min > lo or narrow.max < hi:
            lo, hi = max(lo, int(narrow.min)), min(hi, int(narrow.max))
            where = f"of {device}, the type the device computes model input {port.name!r} in"
    needs, outside_of = f"but model input {port} needs integers", f"for model input {port}"
    if array.dtype.kind == "f":
        low, high = array.min(), array.max()  # NaN propagates: a NaN fails the range test below
        if np.float64(lo) <= low and high < np.float64(hi) + 1.0 and np.array_equal(array, np.trunc(array)):
            return None
        finite = np.isfinite(array)
        if not finite.all():
            return ~finite, "NaN or infinity", needs
        if not np.array_equal(array, np.trunc(array)):
            return array != np.trunc(array), "fractional values (round them first if that is intended)", needs
        outside = (array < np.float64(lo)) | (array >= np.float64(hi) + 1.0)
        return (
            outside,
            f"values in [{low.item()!r}, {high.item()!r}], outside the range [{lo}, {hi}] {where}",
            outside_of,
        )
    low_int, high_int = int(array.min()), int(array.max())
    if lo <= low_int and high_int <= hi:
        return None
    source = np.iinfo(array.dtype)
    bad = np.zeros(array.shape, dtype=bool)
    if lo > source.min:
        bad |= array < lo
    if hi < source.max:
        bad |= array > hi
    return bad, f"values in [{low_int}, {high_int}], outside the range [{lo}, {hi}] {where}", outside_of


def _is_float(element_type: str) -> bool:
    return element_type in ("f64", "f32", "f16", "bf16")


def _inexact_in(array: np.ndarray, target: np.dtype) -> np.ndarray:
    """Mask of the integers in ``array`` that a cast to the float type ``target`` would change."""
    info = np.iinfo(array.dtype)
    with np.errstate(over="ignore"):
        rounded = array.astype(target).astype(np.float64)
    # Powers of two, exact in float64: values outside cannot come back as array's dtype.
    inside = (rounded >= float(info.min)) & (rounded < 2.0 ** (info.bits - (info.min < 0)))
    back = np.where(inside, rounded, 0.0).astype(array.dtype)
    result: np.ndarray = ~inside | (back != array)
    return result


def computed_types(compiled: ov.CompiledModel, names: Sequence[str]) -> dict[str, str]:
    """Return, for each input the device computes in a narrower type than its own, that type.

    The CPU plugin computes ``i64`` (and ``u64``, ``u32``) inputs in ``i32``, and ``f64``
    in ``f32``: a value outside that range would be truncated without an error. This
    reads what the device reports in its runtime graph: following each input through
    the nodes that keep its type, the first node that converts it or computes in
    another type gives the type it is computed in.

    Parameters
    ----------
    compiled : openvino.CompiledModel
        The compiled model.
    names : sequence of str
        The model's input names, in the order of its inputs. The compiled model's own
        port names are not used: where an output is its input unchanged, the compiled
        port carries both tensors' names, and its first name may be the output's.

    Returns
    -------
    dict of str to str
        Input name -> element type (``"i32"``, ``"f32"``), only for inputs computed
        in a type of smaller range than the port's.

    Examples
    --------
    >>> computed_types(compiled, ["ids", "mask"])  # doctest: +SKIP
    {'ids': 'i32'}
    """
    try:
        runtime = compiled.get_runtime_model()
    except RuntimeError:
        return {}
    narrower: dict[str, str] = {}
    for input_name, port, parameter in zip(names, compiled.inputs, runtime.get_parameters(), strict=False):
        own = _short_type(port.get_element_type())
        seen: set[str] = set()
        frontier = [t.get_node() for t in parameter.output(0).get_target_inputs()]
        while frontier:
            node = frontier.pop()
            name = node.get_friendly_name()
            if name in seen:
                continue
            seen.add(name)
            info = node.get_rt_info()
            layer = _rt_text(info, "layerType")
            if layer in ("Output", "ShapeOf"):
                continue
            kept = _rt_text(info, "outputPrecisions") if layer == "Convert" else _rt_text(info, "runtimePrecision")
            if kept in _REDUCED_PRECISIONS and _is_float(own):
                # Computing in bf16 or f16 is what precision= chose, not a cast of the input's
                # values: a float input reaches the model as in f32 (infinity included), and
                # only a wider input (f64) is narrowed, to f32.
                kept = "f32"
            if kept == own:
                frontier.extend(t.get_node() for i in node.outputs() for t in i.get_target_inputs())
            elif kept is not None and _narrows(own, kept):
                narrower[input_name] = _narrowest(narrower.get(input_name), kept)
    return narrower


def _short_type(element_type: ov.Type) -> str:
    return str(element_type.get_type_name())


def _rt_text(info: object, key: str) -> str | None:
    try:
        text = str(info[key].astype(str))  # type: ignore[index]
    except (KeyError, RuntimeError, TypeError):
        return None
    return text.split(",")[0] or None


def _range_of(element_type: str) -> tuple[float, float] | None:
    if _is_float(element_type):
        limit = _float_max(element_type)
        return -limit, limit
    try:
        info = np.iinfo(np.dtype(getattr(ov.Type, element_type).to_dtype()))
    except (AttributeError, TypeError, ValueError):
        return None
    return float(info.min), float(info.max)


def _narrows(own: str, other: str) -> bool:
    mine, theirs = _range_of(own), _range_of(other)
    return mine is not None and theirs is not None and (theirs[0] > mine[0] or theirs[1] < mine[1])


_REDUCED_PRECISIONS = frozenset({"bf16", "f16"})
"""Inference precisions a float input may be computed in by choice (``precision=``), not by a cast."""


def _narrowest(current: str | None, other: str) -> str:
    if current is None:
        return other
    a, b = _range_of(current), _range_of(other)
    assert a is not None and b is not None
    return other if b[1] - b[0] < a[1] - a[0] else current


def check_input_names(expected: Sequence[str], given: Iterable[str]) -> None:
    """Raise [`InputSchemaError`][dask_openvino.errors.InputSchemaError] unless ``given`` names exactly the inputs.

    Examples
    --------
    >>> check_input_names(["x", "mask"], {"x": 1, "z": 2})
    Traceback (most recent call last):
    ...
    dask_openvino.errors.InputSchemaError: model inputs are ['mask', 'x'], got arrays for ['x', 'z']; missing ...
    """
    names, wanted = {str(name) for name in given}, set(expected)
    if names != wanted:
        raise InputSchemaError(
            f"model inputs are {sorted(wanted)}, got arrays for {sorted(names)}"
            + (f"; missing {sorted(wanted - names)}" if wanted - names else "")
            + (f"; unknown {sorted(names - wanted)}" if names - wanted else "")
        )


def check_feeds(
    description: ModelDescription, feeds: Mapping[str, np.ndarray], computed: Mapping[str, str] | None = None
) -> tuple[list[np.ndarray], int]:
    """Check arrays against the model's inputs and cast them to the inputs' element types.

    Parameters
    ----------
    description : ModelDescription
        The model's ports.
    feeds : mapping of str to numpy.ndarray
        One array per model input, keyed by input name, all with the same number of rows.
    computed : mapping of str to str, optional
        The types the device computes inputs in, as in
        [`to_port_dtype`][dask_openvino.casting.to_port_dtype].

    Returns
    -------
    arrays : list of numpy.ndarray
        In the order of the model's inputs.
    n_rows : int
        Their number of rows.

    Raises
    ------
    InputSchemaError
        If an input is missing or unknown, or an array's rank, dimensions, row
        count or values do not fit.
    """
    check_input_names([port.name for port in description.inputs], feeds)
    arrays: list[np.ndarray] = []
    n_rows: int | None = None
    for port in description.inputs:
        array = np.asarray(feeds[port.name])
        if port.shape is not None:
            if array.ndim != len(port.shape):
                raise InputSchemaError(
                    f"input {port.name!r} expects rank {len(port.shape)} ({port}), got an array of shape "
                    f"{list(array.shape)}"
                )
            for axis, (want, got) in enumerate(zip(port.shape[1:], array.shape[1:], strict=True), start=1):
                if want is not None and want != got:
                    raise InputSchemaError(
                        f"input {port.name!r} expects dimension {axis} = {want} ({port}), got an array of shape "
                        f"{list(array.shape)}"
                    )
        if n_rows is None:
            n_rows = len(array)
        elif len(array) != n_rows:
            raise InputSchemaError(
                f"all inputs need the same number of rows: input {port.name!r} has {len(array)}, "
                f"{description.inputs[0].name!r} has {n_rows}"
            )
        arrays.append(to_port_dtype(array, port, source=f"input {port.name!r}", computed=computed))
    return arrays, n_rows or 0
