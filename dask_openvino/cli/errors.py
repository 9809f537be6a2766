"""How the commands report a library error: one `Error:` line and exit status 1, no traceback.

The line spells what the library suggests (`errors='null'`, `output_names=`) as the
command's options (`--errors null`, `--output-names`).

```python
with cli_errors(ValueError):
    spec = convert(source, output_dir)
```
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import click

from dask_openvino.errors import DaskOpenVINOError

__all__ = ["cli_errors", "command_line_spelling"]


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
        raise click.ClickException(f"{type(err).__name__}: {command_line_spelling(str(err))}") from err


# The Python spellings that library messages suggest, and the options that mean the same.
_SPELLINGS = (
    (re.compile(r"\berrors=['\"]null['\"]"), "--errors null"),
    (re.compile(r"\bkeep_input=False\b"), "--no-keep-input"),
    (re.compile(r"\boutput_names="), "--output-names"),
    (re.compile(r"\bbatch_size="), "--batch-size"),
    (re.compile(r"(?<![\w.-])inputs="), "--inputs"),
    (re.compile(r"(?<![\w.-])preprocess="), "--preprocess"),
    (re.compile(r"(?<![\w.-])postprocess="), "--postprocess"),
    (re.compile(r"\bresume=True\b"), "--resume"),
    (re.compile(r"a dict \{input name: column\(s\)\}"), "NAME=COL pairs (--inputs a=a0+a1 --inputs b=b0)"),
    (re.compile(r"a dict \{input: column\}"), "NAME=COL (--inputs image=jpeg)"),
    (re.compile(r"a dict \{output name: postprocessor\}"), "OUTPUT=KIND values (--postprocess logits=argmax)"),
)


def command_line_spelling(message: str) -> str:
    """Rewrite the Python arguments a library message suggests as the command's options.

    Parameters
    ----------
    message : str
        A library error's message.

    Returns
    -------
    str

    Examples
    --------
    >>> command_line_spelling("Pass errors='null' to score the other rows")
    'Pass --errors null to score the other rows'
    >>> command_line_spelling("pass output_names= or keep_input=False")
    'pass --output-names or --no-keep-input'
    >>> command_line_spelling("in this order, or a dict {input name: column(s)}")
    'in this order, or NAME=COL pairs (--inputs a=a0+a1 --inputs b=b0)'
    """
    for pattern, option in _SPELLINGS:
        message = pattern.sub(option, message)
    return message
