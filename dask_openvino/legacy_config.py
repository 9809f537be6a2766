"""Inference Engine configuration keys of OpenVINO before 2022, translated to today's properties.

Analytics Zoo and BigDL Orca passed ``{"CPU_THREADS_NUM": "8", "CPU_BIND_THREAD": "HYBRID_AWARE"}``
(Orca's own default) and ``CPU_THROUGHPUT_STREAMS``; OpenVINO 2022 renamed them and today's
CPU plugin rejects the old names as "Unsupported property".
[`translate_legacy_config`][dask_openvino.legacy_config.translate_legacy_config] maps each to
its successor with a ``DeprecationWarning`` naming the new key, so migrated scripts keep
their settings.

| old key | new key | values |
|---|---|---|
| `CPU_THREADS_NUM` | `INFERENCE_NUM_THREADS` | the same number |
| `CPU_BIND_THREAD` | `ENABLE_CPU_PINNING` | `YES`, `NUMA`, `HYBRID_AWARE` → `YES`; `NO` → `NO` |
| `CPU_THROUGHPUT_STREAMS` | `NUM_STREAMS` | `CPU_THROUGHPUT_AUTO` → `AUTO`, `CPU_THROUGHPUT_NUMA` → `NUMA`, a number |
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

__all__ = ["LEGACY_KEYS", "translate_legacy_config"]

LEGACY_KEYS = {
    "CPU_THREADS_NUM": "INFERENCE_NUM_THREADS",
    "CPU_BIND_THREAD": "ENABLE_CPU_PINNING",
    "CPU_THROUGHPUT_STREAMS": "NUM_STREAMS",
}
"""Old Inference Engine key -> today's OpenVINO property."""

_VALUES = {
    "CPU_BIND_THREAD": {"YES": "YES", "NUMA": "YES", "HYBRID_AWARE": "YES", "NO": "NO"},
    "CPU_THROUGHPUT_STREAMS": {"CPU_THROUGHPUT_AUTO": "AUTO", "CPU_THROUGHPUT_NUMA": "NUMA"},
}


def _new_value(key: str, value: Any) -> str:
    text = str(value).upper() if isinstance(value, str) else str(value)
    if key == "CPU_BIND_THREAD":
        if text not in _VALUES[key]:
            raise ValueError(f"config {key}={value!r}: expected one of {sorted(_VALUES[key])}")
        return _VALUES[key][text]
    if key == "CPU_THROUGHPUT_STREAMS" and text in _VALUES[key]:
        return _VALUES[key][text]
    if not text.isdigit():
        raise ValueError(f"config {key}={value!r}: expected a non-negative number")
    return text


def translate_legacy_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``config`` with Inference Engine keys replaced by today's properties.

    Each replaced key warns once per call with a ``DeprecationWarning`` naming the new key
    and value. A key given both ways keeps the new spelling's value.

    Parameters
    ----------
    config : mapping or None
        OpenVINO compile properties, possibly with ``CPU_THREADS_NUM``,
        ``CPU_BIND_THREAD`` or ``CPU_THROUGHPUT_STREAMS``.

    Returns
    -------
    dict
        The properties OpenVINO accepts today (a new dict; ``{}`` for None).

    Raises
    ------
    ValueError
        If an old key has a value that has no translation (``CPU_BIND_THREAD="SOMETIMES"``).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     translate_legacy_config({"CPU_THREADS_NUM": "4", "CPU_BIND_THREAD": "HYBRID_AWARE"})
    {'INFERENCE_NUM_THREADS': '4', 'ENABLE_CPU_PINNING': 'YES'}
    """
    translated: dict[str, Any] = {}
    for key, value in (config or {}).items():
        new_key = LEGACY_KEYS.get(key)
        if new_key is None:
            translated[key] = value
            continue
        new_value = _new_value(key, value)
        warnings.warn(
            f"OpenVINO config key {key!r} is from the Inference Engine API removed in OpenVINO 2022; "
            f"using {new_key}={new_value!r} instead (write {{{new_key!r}: {new_value!r}}})",
            DeprecationWarning,
            stacklevel=3,
        )
        if new_key not in (config or {}):
            translated[new_key] = new_value
    return translated
