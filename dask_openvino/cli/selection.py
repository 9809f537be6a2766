"""Which columns a command reads and writes: `--inputs` patterns, `--keep`, and the projection they allow.

```bash
dask-openvino predict model.xml t.parquet -o out.parquet --inputs 'f*' --keep id,label
```

[`expand_inputs`][dask_openvino.cli.selection.expand_inputs] turns glob patterns in
`--inputs` into the table's columns, in the table's order (`f*` gives `f0, f1, ...,
f10`, not `f0, f1, f10, f2`), and [`read_columns`][dask_openvino.cli.selection.read_columns]
names the columns a job needs, so that the others are never read.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from dask_openvino.errors import InputSchemaError
from dask_openvino.plan import InputsArg, PredictionPlan

__all__ = ["expand_inputs", "is_pattern", "kept_columns", "read_columns"]


def is_pattern(name: str) -> bool:
    """Whether a column name given on the command line is a glob pattern (`*`, `?` or `[...]`).

    Examples
    --------
    >>> is_pattern("f*"), is_pattern("f0")
    (True, False)
    """
    return any(char in name for char in "*?[")


def _expand(names: Sequence[str], columns: Sequence[str], what: str) -> list[str]:
    expanded: list[str] = []
    for name in names:
        if name in columns or not is_pattern(name):
            # A literal column, or a missing one that the plan reports with the table's columns.
            expanded.append(name)
            continue
        matched = [column for column in columns if fnmatch.fnmatchcase(column, name)]
        if not matched:
            shown = list(columns) if len(columns) <= 20 else [*columns[:20], "..."]
            raise InputSchemaError(f"{what} pattern {name!r} matches no column; the columns are {shown}")
        expanded.extend(column for column in matched if column not in expanded)
    return expanded


def expand_inputs(inputs: InputsArg, columns: Sequence[str]) -> InputsArg:
    """Replace glob patterns in `--inputs` by the matching columns, in the table's column order.

    Parameters
    ----------
    inputs : None, str, list or dict
        As `--inputs` parsed it ([`InputsParam`][dask_openvino.cli.params.InputsParam]).
    columns : sequence of str
        The table's columns.

    Returns
    -------
    None, str, list or dict
        `inputs` with each pattern replaced by its columns; `None` stays `None`
        (columns named like the model's inputs).

    Raises
    ------
    InputSchemaError
        If a pattern matches no column.

    Examples
    --------
    >>> expand_inputs(["f*"], ["id", "f0", "f1", "f10", "label"])
    ['f0', 'f1', 'f10']
    >>> expand_inputs({"x": "f?", "mask": "m"}, ["f0", "f1", "m"])
    {'x': ['f0', 'f1'], 'mask': 'm'}
    """
    if inputs is None:
        return None
    names = [str(c) for c in columns]
    if isinstance(inputs, dict):
        out: dict[str, str | list[str]] = {}
        for name, spelled in inputs.items():
            given = [spelled] if isinstance(spelled, str) else list(spelled)
            matched = _expand(given, names, f"--inputs {name}=")
            out[name] = matched[0] if len(matched) == 1 and not any(map(is_pattern, given)) else matched
        return out
    given = [inputs] if isinstance(inputs, str) else [str(c) for c in inputs]
    matched = _expand(given, names, "--inputs")
    return matched[0] if len(matched) == 1 and not any(map(is_pattern, given)) else matched


def kept_columns(keep: Sequence[str], columns: Sequence[str]) -> list[str]:
    """Return the `--keep` columns (patterns expanded), checked against the table's columns.

    Parameters
    ----------
    keep : sequence of str
        Column names or glob patterns.
    columns : sequence of str
        The table's columns.

    Returns
    -------
    list of str

    Raises
    ------
    InputSchemaError
        If a column is not in the table, or a pattern matches none.

    Examples
    --------
    >>> kept_columns(["id", "l*"], ["id", "f0", "label"])
    ['id', 'label']
    """
    names = [str(c) for c in columns]
    kept = _expand(keep, names, "--keep")
    missing = [column for column in kept if column not in names]
    if missing:
        shown = names if len(names) <= 20 else [*names[:20], "..."]
        raise InputSchemaError(f"--keep column {missing[0]!r} is not in the input; the columns are {shown}")
    return kept


def read_columns(plan: PredictionPlan, keep: Sequence[str], columns: Sequence[str]) -> list[str]:
    """Return the columns a job reads: those feeding the model (or its preprocessing), and `keep`.

    Parameters
    ----------
    plan : PredictionPlan
        The job's plan, built on the table's `meta`.
    keep : sequence of str
        Columns written beside the predictions.
    columns : sequence of str
        The table's columns, whose order the result keeps.

    Returns
    -------
    list of str

    Examples
    --------
    >>> read_columns(plan, ["id"], ["id", "f0", "f1", "label"])  # doctest: +SKIP
    ['id', 'f0', 'f1']
    """
    needed = {column for binding in plan.inputs for column in binding.columns} | set(keep)
    if plan.preprocess_column is not None:
        needed.add(plan.preprocess_column)
    return [column for column in map(str, columns) if column in needed]
