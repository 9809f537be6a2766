"""Arrays given in memory, keyed by the model input each one feeds.

Users hand a model its inputs in three shapes: one array for a single-input model,
a list of arrays in input order, or a dict keyed by input name.
[`feeds_from_arrays`][dask_openvino.feeds.feeds_from_arrays] turns any of them into
the ``{input name: array}`` mapping that
[`Engine.run`][dask_openvino.engine.Engine.run] takes; the Analytics Zoo facade and
[`quantize`][dask_openvino.quantize.quantize] both read their array inputs with it.
The arrays themselves are left as they are (numpy or Dask): checking their shapes
and casting them is the engine's job. [`sample_feeds`][dask_openvino.feeds.sample_feeds]
takes a seeded sample of a DataFrame or of arrays, as calibration and precision checks use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd

from dask_openvino.casting import check_feeds, check_input_names
from dask_openvino.errors import InputSchemaError
from dask_openvino.partition import feeds_from_frame
from dask_openvino.plan import InputsArg
from dask_openvino.spec import ModelDescription, ModelSpec

__all__ = ["ArrayInput", "cast_feeds", "feeds_from_arrays", "sample_feeds"]

ArrayInput = np.ndarray | Sequence[np.ndarray] | Mapping[str, np.ndarray]
"""Arrays in memory: one array, arrays in input order, or ``{input name: array}``."""


def _is_array(value: object) -> bool:
    # numpy arrays and whatever converts to one without guessing (Dask Arrays, torch tensors).
    return isinstance(value, np.ndarray) or hasattr(value, "__array__")


def feeds_from_arrays(data: object, names: Sequence[str], *, what: str = "inputs") -> dict[str, Any]:
    """Key arrays by the model input they feed.

    Parameters
    ----------
    data : array, list or tuple of arrays, or dict
        One array (a single-input model), one array per input in the order of
        ``names``, or ``{input name: array}``. Arrays are numpy arrays or objects
        that convert to one (Dask Arrays, tensors).
    names : sequence of str
        The model's input names, in the order a list gives them.
    what : str, default "inputs"
        What ``data`` is called in messages, e.g. ``"shard['x']"``.

    Returns
    -------
    dict of str to array
        ``{input name: array}``, the arrays unchanged.

    Raises
    ------
    InputSchemaError
        If a dict does not name exactly the model's inputs, a list has the wrong
        number of arrays, or one array is given to a multi-input model.
    TypeError
        If ``data`` is not an array, a list of arrays or a dict.

    Examples
    --------
    >>> x, mask = np.zeros((4, 3)), np.ones((4, 1))
    >>> sorted(feeds_from_arrays([x, mask], ["x", "mask"]))
    ['mask', 'x']
    >>> feeds_from_arrays(x, ["x"])["x"].shape
    (4, 3)
    """
    if isinstance(data, Mapping):
        check_input_names(names, data)
        return {str(name): value for name, value in data.items()}
    if isinstance(data, (list, tuple)) and all(_is_array(value) for value in data):
        lazy = [isinstance(value, da.Array) for value in data]
        if any(lazy) and not all(lazy):
            raise TypeError(
                f"{what} mixes Dask Arrays and arrays in memory; give all inputs as Dask Arrays (scored lazily) "
                "or all in memory"
            )
        if len(data) != len(names):
            raise InputSchemaError(
                f"{what} holds {len(data)} arrays, but the model has {len(names)} inputs {list(names)}; give one "
                "array per input, in this order"
            )
        return dict(zip(names, data, strict=True))
    if _is_array(data):
        if len(names) != 1:
            raise InputSchemaError(
                f"the model has {len(names)} inputs {list(names)}; pass a list of {len(names)} arrays in this order, "
                "or a dict {input name: array} (one array feeds a single-input model only: for several inputs, "
                "pass a list of arrays)"
            )
        return {names[0]: data}
    raise TypeError(
        f"{what} must be a numpy array, a list of arrays (one per model input, in order), a dict "
        f"{{input name: array}}, a pandas DataFrame or a Dask DataFrame / Array; got {type(data).__name__}"
    )


_SAMPLE_SEED = 0


def cast_feeds(data: Any, description: ModelDescription, *, what: str) -> dict[str, np.ndarray]:
    """Key arrays by input (one array, a list in input order, or a dict), checked and cast as the engine does.

    Returns
    -------
    dict of str to numpy.ndarray
        Contiguous arrays of the inputs' element types.
    """
    keyed = feeds_from_arrays(data, [port.name for port in description.inputs], what=what)
    arrays, _ = check_feeds(description, keyed)
    return {port.name: np.ascontiguousarray(array) for port, array in zip(description.inputs, arrays, strict=True)}


def sample_feeds(
    data: Any, spec: ModelSpec, inputs: InputsArg, rows: int | None, *, what: str = "the data"
) -> dict[str, np.ndarray]:
    """Return model feeds for up to ``rows`` rows of ``data``: a seeded random sample, or every row when None.

    Parameters
    ----------
    data : pandas or Dask DataFrame, array, or list or dict of arrays
        A Dask DataFrame is sampled, then computed.
    spec : ModelSpec
        The model the feeds are for.
    inputs : None, str, list of str, or dict
        Column mapping for DataFrames, as for ``.ov.predict``; None for arrays.
    rows : int or None
        Sample size.
    what : str, default "the data"
        What ``data`` is, for the error when it has no rows.

    Returns
    -------
    dict of str to numpy.ndarray

    Raises
    ------
    InputSchemaError
        If the data does not fit the model's inputs, or has no rows.
    ValueError
        If ``inputs`` is given with arrays.
    """
    if isinstance(data, (pd.DataFrame, dd.DataFrame)):
        if isinstance(data, dd.DataFrame):
            total = len(data)
            if rows is not None and total > rows:
                fraction = min(1.0, 1.1 * rows / total)
                data = data.sample(frac=fraction, random_state=_SAMPLE_SEED)  # type: ignore[no-untyped-call]
            data = data.compute()
        if rows is not None and len(data) > rows:
            data = data.sample(n=rows, random_state=_SAMPLE_SEED)
        feeds = feeds_from_frame(data, spec, inputs)
    elif inputs is not None:
        raise ValueError("inputs= maps DataFrame columns; arrays match the model's inputs by position or by dict key")
    else:
        feeds = cast_feeds(data, spec.describe(), what=what)
    total = len(next(iter(feeds.values())))
    if total == 0:
        # Figures over no rows (a speed of 0, a max difference of 0) would read as results.
        raise InputSchemaError(f"{what} has no rows; the model has to run on at least one")
    if rows is not None and total > rows:
        chosen = np.sort(np.random.default_rng(_SAMPLE_SEED).choice(total, size=rows, replace=False))
        feeds = {name: array[chosen] for name, array in feeds.items()}
    return feeds
