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

from dask_openvino.errors import InputSchemaError
from dask_openvino.spec import ModelDescription, PortInfo

__all__ = ["check_feeds", "check_input_names", "to_port_dtype"]


def to_port_dtype(array: np.ndarray, port: PortInfo, *, source: str) -> np.ndarray:
    """Cast ``array`` to the element type of ``port``, refusing lossy casts.

    Float to float casts are allowed (values beyond the target's range raise);
    NaN and infinity pass through to float ports. Casts to integer ports require
    finite, whole values within the target's range; booleans accept only 0 and 1.

    Parameters
    ----------
    array : numpy.ndarray
        The values to cast.
    port : PortInfo
        The model input they feed.
    source : str
        What the values came from (a column name, "input 0"), for messages.

    Returns
    -------
    numpy.ndarray
        An array of ``port.dtype`` in ``array``'s memory order (``array`` itself when
        nothing changes); the engine makes each batch contiguous as it sends it.

    Raises
    ------
    InputSchemaError
        If the cast would lose information.
    """
    target = port.dtype
    if array.dtype == target:
        return array
    kind = array.dtype.kind
    if kind not in "biuf":
        raise InputSchemaError(f"{source} has dtype {array.dtype}, but model input {port} needs {target}")
    if target.kind == "f":
        if kind == "f" and array.dtype.itemsize > target.itemsize and array.size:
            limit = np.finfo(target).max
            finite = array[np.isfinite(array)]
            if finite.size and np.abs(finite).max() > limit:
                raise InputSchemaError(
                    f"{source} holds values beyond the range of {target} (|x| > {limit:.3g}) for model input {port}"
                )
        return array.astype(target)
    if target.kind in "iu":
        if kind == "f":
            if not np.isfinite(array).all():
                raise InputSchemaError(
                    f"{source} holds NaN or infinity, but model input {port} needs integers ({target})"
                )
            if not np.array_equal(array, np.trunc(array)):
                raise InputSchemaError(
                    f"{source} holds fractional values, but model input {port} needs integers ({target}); "
                    "round them first if that is intended"
                )
        if array.size and kind != "b":
            info = np.iinfo(target)
            low, high = array.min(), array.max()
            if low < info.min or high > info.max:
                raise InputSchemaError(
                    f"{source} holds values in [{low}, {high}], outside the range [{info.min}, {info.max}] "
                    f"of {target} needed by model input {port}"
                )
        return array.astype(target)
    if target.kind == "b":
        if kind != "b" and array.size and not np.isin(array, (0, 1)).all():
            raise InputSchemaError(f"{source} holds values other than 0 and 1, but model input {port} needs booleans")
        return array.astype(target)
    raise InputSchemaError(f"model input {port} has element type {port.element_type}, which dask-openvino cannot feed")


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


def check_feeds(description: ModelDescription, feeds: Mapping[str, np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Check arrays against the model's inputs and cast them to the inputs' element types.

    Parameters
    ----------
    description : ModelDescription
        The model's ports.
    feeds : mapping of str to numpy.ndarray
        One array per model input, keyed by input name, all with the same number of rows.

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
        arrays.append(to_port_dtype(array, port, source=f"input {port.name!r}"))
    return arrays, n_rows or 0
