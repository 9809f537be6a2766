"""How the commands report a library error: one `Error:` line and exit status 1, no traceback.

```python
with cli_errors(ValueError):
    spec = convert(source, output_dir)
```
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click

from dask_openvino.errors import DaskOpenVINOError

__all__ = ["cli_errors"]


@contextlib.contextmanager
def cli_errors(*extra_types: type[Exception]) -> Iterator[None]:
    """Report a library error, or one of `extra_types`, as a `click.ClickException`.

    A library error is a [`DaskOpenVINOError`][dask_openvino.errors.DaskOpenVINOError].
    The message names the error's type, which click prints as
    `Error: ModelLoadError: ...` before exiting with status 1.

    Parameters
    ----------
    *extra_types : type of Exception
        Other errors the command reports the same way, such as `ValueError` from a
        library call that checks its arguments.

    Yields
    ------
    None

    Raises
    ------
    click.ClickException
        In place of the error, which becomes its `__cause__`.

    Examples
    --------
    >>> with cli_errors(ValueError):
    ...     raise ValueError("no such preset")
    Traceback (most recent call last):
    ...
    click.exceptions.ClickException: ValueError: no such preset
    """
    reported: tuple[type[Exception], ...] = (DaskOpenVINOError, *extra_types)
    try:
        yield
    except reported as err:
        raise click.ClickException(f"{type(err).__name__}: {err}") from err
