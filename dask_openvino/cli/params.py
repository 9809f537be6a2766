"""The command line's option mini-languages, parsed at the edge as `click.ParamType`s.

Each type turns one option value into the object the library takes, so a mistake is
a usage error (exit status 2) that names the option, before any model is read or
any cluster starts. Options that may be repeated (`--inputs`, `--config`,
`--input-shape`, ...) are joined by the type's `combine`, given to the option as its
`callback`:

```python
@click.option("--config", multiple=True, type=ConfigParam(), callback=ConfigParam.combine)
```

The `--preprocess` and `--postprocess` languages are in
[`dask_openvino.cli.processing`][dask_openvino.cli.processing].
[`inputs_option`][dask_openvino.cli.params.inputs_option] and
[`per_input_option`][dask_openvino.cli.params.per_input_option] declare options
shared by several commands, and
[`cluster_options`][dask_openvino.cli.params.cluster_options] adds the options that
choose the cluster.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dask_openvino.cluster import ClusterOptions
from dask_openvino.plan import InputsArg

__all__ = [
    "AnyParamType",
    "ConfigParam",
    "InputsParam",
    "LayoutParam",
    "NamesParam",
    "PerInputParam",
    "ShapeParam",
    "ValuesParam",
    "cluster_options",
    "inputs_option",
    "parse_numbers",
    "per_input_option",
]

# `click.ParamType` converting to any type, the base of this package's option types.
# ParamType is generic from click 8.4 on; the package supports click 8.1, where it cannot be subscripted.
if TYPE_CHECKING:
    AnyParamType = click.ParamType[Any]
else:
    AnyParamType = click.ParamType

_Command = TypeVar("_Command", bound=Callable[..., Any])


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class InputsParam(AnyParamType):
    """One `--inputs` value: columns `a,b,c`, or a `NAME=COL[+COL...]` pair.

    [`combine`][dask_openvino.cli.params.InputsParam.combine] joins repeated values
    into `.ov.predict(inputs=...)`.

    Examples
    --------
    >>> InputsParam.combine(None, None, (InputsParam()("a,b"), InputsParam()("c")))
    ['a', 'b', 'c']
    >>> InputsParam.combine(None, None, (InputsParam()("ids=p+q"), InputsParam()("mask=m")))
    {'ids': ['p', 'q'], 'mask': 'm'}
    """

    name = "inputs"

    def convert(
        self, value: str, param: click.Parameter | None, ctx: click.Context | None
    ) -> list[str] | dict[str, str | list[str]]:
        """Return the columns of a plain value, or `{NAME: column(s)}` for a pair."""
        name, sep, spelled = value.partition("=")
        if not sep:
            return _split(value)
        columns = _split(spelled.replace("+", ","))
        if not name.strip() or not columns:
            self.fail(
                f"{value!r}: mix no plain columns with NAME=COLUMN pairs; write every item as NAME=COLUMN", param, ctx
            )
        return {name.strip(): columns[0] if len(columns) == 1 else columns}

    @staticmethod
    def combine(
        ctx: click.Context | None,
        param: click.Parameter | None,
        values: Sequence[list[str] | dict[str, str | list[str]]],
    ) -> InputsArg:
        """Join converted values: one column, a list of columns, or `{input: column(s)}`; `None` if none."""
        if not values:
            return None
        plain = [value for value in values if isinstance(value, list)]
        pairs = [value for value in values if isinstance(value, dict)]
        if plain and pairs:
            raise click.BadParameter(
                f"{','.join(plain[0])!r}: mix no plain columns with NAME=COLUMN pairs; write every item as NAME=COLUMN"
            )
        if pairs:
            return {name: columns for pair in pairs for name, columns in pair.items()}
        columns = [column for value in plain for column in value]
        if not columns:
            raise click.BadParameter("give column names, or NAME=COLUMN pairs")
        return columns[0] if len(columns) == 1 else columns


class ConfigParam(AnyParamType):
    """One `--config KEY=VALUE` OpenVINO compile property.

    Examples
    --------
    >>> ConfigParam.combine(None, None, (ConfigParam()("PERFORMANCE_HINT=LATENCY"),))
    {'PERFORMANCE_HINT': 'LATENCY'}
    """

    name = "config"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, str]:
        """Return `(KEY, VALUE)`."""
        key, sep, setting = value.partition("=")
        if not sep or not key.strip():
            self.fail(f"{value!r} is not KEY=VALUE", param, ctx)
        return key.strip(), setting.strip()

    @staticmethod
    def combine(
        ctx: click.Context | None, param: click.Parameter | None, values: Sequence[tuple[str, str]]
    ) -> dict[str, str] | None:
        """Join converted values into a properties dict (the last of a repeated key wins); `None` if none."""
        return dict(values) or None


class NamesParam(AnyParamType):
    """One value of a names option such as `--output-names`: comma-separated names.

    Examples
    --------
    >>> NamesParam.combine(None, None, (NamesParam()("logits, probs"), NamesParam()("extra")))
    ['logits', 'probs', 'extra']
    """

    name = "names"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> list[str]:
        """Return the names, blanks dropped."""
        return _split(value)

    @staticmethod
    def combine(
        ctx: click.Context | None, param: click.Parameter | None, values: Sequence[list[str]]
    ) -> list[str] | None:
        """Join converted values in order; `None` if no name was given."""
        return [name for value in values for name in value] or None


def parse_numbers(text: str, what: str) -> tuple[float, ...]:
    """Read numbers separated by `/` (or `,`), as in `mean=123.675/116.28/103.53`.

    Parameters
    ----------
    text : str
        The numbers.
    what : str
        The option or key they were given to, for the message.

    Returns
    -------
    tuple of float

    Raises
    ------
    click.BadParameter
        If one of them is not a number.

    Examples
    --------
    >>> parse_numbers("0.5/1/2", "mean")
    (0.5, 1.0, 2.0)
    """
    try:
        return tuple(float(p) for p in text.replace("/", ",").split(",") if p.strip())
    except ValueError:
        raise click.BadParameter(f"{what}={text!r}: give numbers separated by '/'") from None


class ShapeParam(AnyParamType):
    """An input shape: dimensions like `1,3,224,224`, `?` or `-1` for a dynamic one.

    Examples
    --------
    >>> ShapeParam()("?,3,224,224")
    [None, 3, 224, 224]
    """

    name = "shape"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> list[int | None]:
        """Return the dimensions, `None` where dynamic."""
        dims: list[int | None] = []
        for part in value.replace("[", "").replace("]", "").split(","):
            part = part.strip()
            if part in ("?", "-1"):
                dims.append(None)
            elif part.isdigit():
                dims.append(int(part))
            else:
                self.fail(f"{value!r}: give dimensions like 1,3,224,224 (? or -1: dynamic)", param, ctx)
        return dims


class ValuesParam(AnyParamType):
    """Mean or scale values: one number, or one per channel separated by `/`.

    Examples
    --------
    >>> ValuesParam()("123.675/116.28/103.53")
    [123.675, 116.28, 103.53]
    """

    name = "values"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> float | list[float]:
        """Return the number, or the list of them."""
        option = param.opts[0] if param is not None else "values"
        numbers = list(parse_numbers(value, option))
        if not numbers:
            self.fail(f"{value!r}: give one number or one per channel", param, ctx)
        return numbers[0] if len(numbers) == 1 else numbers


class LayoutParam(AnyParamType):
    """An input layout such as `NCHW`, in any case.

    Examples
    --------
    >>> LayoutParam()("nhwc")
    'NHWC'
    """

    name = "layout"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """Return the layout in upper case."""
        return value.upper()


class PerInputParam(AnyParamType):
    """`VALUE` for a single-input model, or `NAME=VALUE` for one model input; `inner` reads `VALUE`.

    [`combine`][dask_openvino.cli.params.PerInputParam.combine] joins repeated
    values into the value, or the `{input: value}` dict, that
    [`convert`][dask_openvino.convert.convert] takes.

    Parameters
    ----------
    inner : click.ParamType
        The type of `VALUE`.

    Examples
    --------
    >>> shapes = PerInputParam(ShapeParam())
    >>> PerInputParam.combine(None, None, (shapes("x=?,8"), shapes("mask=?,8")))
    {'x': [None, 8], 'mask': [None, 8]}
    """

    def __init__(self, inner: click.ParamType[Any]) -> None:
        self.inner = inner
        self.name = inner.name

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str | None, Any]:
        """Return `(NAME, VALUE)`, with `NAME` `None` when no input is named."""
        name, sep, rest = value.partition("=")
        if sep:
            return name.strip(), self.inner.convert(rest.strip(), param, ctx)
        return None, self.inner.convert(value.strip(), param, ctx)

    @staticmethod
    def combine(
        ctx: click.Context | None, param: click.Parameter | None, values: Sequence[tuple[str | None, Any]]
    ) -> Any:
        """Join converted values: the only one's `VALUE`, or `{NAME: VALUE}`; `None` if none."""
        if not values:
            return None
        if len(values) == 1 and values[0][0] is None:
            return values[0][1]
        if any(name is None for name, _ in values):
            option = param.opts[0] if param is not None else "the option"
            raise click.BadParameter(f"repeat {option} only as NAME=VALUE, one per model input")
        return dict(values)


def inputs_option(*, help: str) -> Callable[[_Command], _Command]:
    """Declare `--inputs COLS`, joined by [`InputsParam.combine`][dask_openvino.cli.params.InputsParam.combine].

    Parameters
    ----------
    help : str
        The option's help text, which says what the columns feed.

    Returns
    -------
    callable
        The `click.option` decorator; the command receives `inputs=`, as `.ov.predict(inputs=...)` takes it.

    Examples
    --------
    >>> @click.command("score")
    ... @inputs_option(help="Columns feeding the model.")
    ... def score_command(inputs: InputsArg) -> None:
    ...     click.echo(inputs)
    >>> from click.testing import CliRunner
    >>> CliRunner().invoke(score_command, ["--inputs", "a,b", "--inputs", "c"]).output.strip()
    "['a', 'b', 'c']"
    """
    return click.option(
        "--inputs",
        "inputs",
        multiple=True,
        type=InputsParam(),
        callback=InputsParam.combine,
        metavar="COLS",
        help=help,
    )


def per_input_option(
    name: str,
    inner: click.ParamType[Any],
    *,
    metavar: str,
    help: str,
) -> Callable[[_Command], _Command]:
    """Declare a repeatable `[NAME=]VALUE` option, read by [`PerInputParam`][dask_openvino.cli.params.PerInputParam].

    Parameters
    ----------
    name : str
        The option, such as `"--layout"`.
    inner : click.ParamType
        The type of `VALUE`.
    metavar : str
        How the help shows the value, such as `"[NAME=]LAYOUT"`.
    help : str
        The option's help text.

    Returns
    -------
    callable
        The `click.option` decorator; the command receives the value, or the `{input: value}` dict.

    Examples
    --------
    >>> @click.command("shape")
    ... @per_input_option("--layout", LayoutParam(), metavar="[NAME=]LAYOUT", help="Input layout.")
    ... def shape_command(layout: str | dict[str, str] | None) -> None:
    ...     click.echo(layout)
    >>> from click.testing import CliRunner
    >>> CliRunner().invoke(shape_command, ["--layout", "x=nchw", "--layout", "mask=nc"]).output.strip()
    "{'x': 'NCHW', 'mask': 'NC'}"
    """
    return click.option(
        name,
        multiple=True,
        type=PerInputParam(inner),
        callback=PerInputParam.combine,
        metavar=metavar,
        help=help,
    )


_CLUSTER_OPTIONS = [
    click.option(
        "--scheduler",
        metavar="ADDRESS",
        help="Run on the cluster whose scheduler is at ADDRESS (tcp://host:8786) instead of a local one.",
    ),
    click.option(
        "--workers",
        type=click.IntRange(min=1),
        help="Worker processes of the local cluster [default: sized to this machine].",
    ),
    click.option(
        "--threads-per-worker",
        type=click.IntRange(min=1),
        help="Threads per local worker; OpenVINO uses as many [default: sized to this machine].",
    ),
    click.option(
        "--dashboard-address",
        default=":8787",
        show_default=True,
        metavar="[HOST]:PORT",
        help="Where the local cluster serves its dashboard (':0' picks a free port).",
    ),
]


def cluster_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add `--scheduler`, `--workers`, `--threads-per-worker` and `--dashboard-address` to a command.

    The command receives them as one `cluster=`
    [`ClusterOptions`][dask_openvino.cluster.ClusterOptions].

    Parameters
    ----------
    command : callable
        The command function, below its `click` options.

    Returns
    -------
    callable
        The function to decorate with `click.command`.

    Raises
    ------
    click.UsageError
        When the command runs with `--scheduler` and a local cluster's size.

    Examples
    --------
    >>> @click.command("score")
    ... @cluster_options
    ... def score_command(cluster: ClusterOptions) -> None:
    ...     click.echo(cluster)
    >>> from click.testing import CliRunner
    >>> CliRunner().invoke(score_command, ["--workers", "2"]).output.strip()
    "ClusterOptions(scheduler=None, workers=2, threads_per_worker=None, dashboard_address=':8787')"
    """

    @functools.wraps(command)
    def with_cluster(
        *args: Any,
        scheduler: str | None,
        workers: int | None,
        threads_per_worker: int | None,
        dashboard_address: str,
        **kwargs: Any,
    ) -> None:
        if scheduler is not None and (workers is not None or threads_per_worker is not None):
            raise click.UsageError(
                "--scheduler runs on an existing cluster; --workers/--threads-per-worker size a local one"
            )
        cluster = ClusterOptions(
            scheduler=scheduler,
            workers=workers,
            threads_per_worker=threads_per_worker,
            dashboard_address=dashboard_address,
        )
        command(*args, cluster=cluster, **kwargs)

    decorated: Callable[..., None] = with_cluster
    for option in reversed(_CLUSTER_OPTIONS):
        decorated = option(decorated)
    return decorated
