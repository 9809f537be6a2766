"""Argument checks shared by the public entry points.

Each returns the value in its canonical form or raises the caller's error type with
a message naming the argument, what was expected and what was given.
"""

from __future__ import annotations

import numpy as np

__all__ = ["batch_size_or_default", "positive_int"]


def positive_int(value: object, what: str, *, error: type[Exception] = ValueError, zero_ok: bool = False) -> int:
    """Return ``value`` as an ``int`` if it is a positive integer (``bool`` is not one).

    Parameters
    ----------
    value : object
        What the user passed.
    what : str
        The argument's name, for the message.
    error : type of Exception, default ValueError
        Raised when ``value`` does not qualify.
    zero_ok : bool, default False
        Accept 0 too.

    Returns
    -------
    int

    Examples
    --------
    >>> positive_int(np.int64(8), "batch_size")
    8
    >>> positive_int(True, "batch_size")
    Traceback (most recent call last):
    ...
    ValueError: batch_size must be a positive integer, got True
    """
    low = 0 if zero_ok else 1
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        kind = "a non-negative" if zero_ok else "a positive"
        raise error(f"{what} must be {kind} integer, got {value!r}")
    return int(value)


def batch_size_or_default(value: object, *, error: type[Exception] = ValueError) -> int | None:
    """Return an Analytics Zoo ``batch_size``: a positive integer, or None where 0 or None ask for the default.

    Examples
    --------
    >>> batch_size_or_default(0), batch_size_or_default(None), batch_size_or_default(16)
    (None, None, 16)
    """
    return positive_int(0 if value is None else value, "batch_size", error=error, zero_ok=True) or None
