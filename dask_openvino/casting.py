"""Casting values to a model input's element type, refusing casts that lose information.

Every array fed to a model passes through
[`to_port_dtype`][dask_openvino.casting.to_port_dtype]: exact casts are plain
``astype`` calls, and a cast that would change a value (out of range, fractional
into an integer input, NaN into an integer input) raises
[`InputSchemaError`][dask_openvino.errors.InputSchemaError] naming the source.
"""

from __future__ import annotations

import numpy as np

from dask_openvino.errors import InputSchemaError
from dask_openvino.spec import PortInfo

__all__ = ["to_port_dtype"]


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
