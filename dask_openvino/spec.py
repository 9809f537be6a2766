"""Model source and fingerprint: where a model lives and which bytes it is.

A [`ModelSpec`][dask_openvino.spec.ModelSpec] is what travels in the Dask task graph: a small, frozen,
picklable description (file locations, content fingerprint, device, compile
configuration). Weights never travel; every worker reads them itself, checks
the fingerprint and compiles once (see [`get_engine`][dask_openvino.cache.get_engine]).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import openvino as ov

from dask_openvino import state
from dask_openvino.errors import ModelChangedError, ModelLoadError, UnsupportedElementTypeError, openvino_message
from dask_openvino.policy import requested_precision
from dask_openvino.storage import StorageOptions, absolute, freeze_options, is_local, read_bytes

__all__ = ["ConfigItems", "ModelDescription", "ModelSpec", "PortInfo", "describe_model", "port_info", "resolve_model"]

_NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    name: np.dtype(getattr(ov.Type, name).to_dtype())
    for name in ("f64", "f32", "f16", "i64", "i32", "i16", "i8", "u64", "u32", "u16", "u8", "boolean")
}

ConfigItems = tuple[tuple[str, str], ...]
"""A compile configuration frozen into sorted ``(key, value)`` string pairs."""


@dataclass(frozen=True)
class PortInfo:
    """One input or output of a model, as read from its IR.

    Attributes
    ----------
    name : str
        The tensor name users pass and see (the port's first name).
    element_type : str
        OpenVINO element type, e.g. ``"f32"``, ``"i64"``, ``"u8"``.
    shape : tuple of (int or None), or None
        The partial shape: ``None`` for a dynamic dimension, or ``None`` as a
        whole when even the rank is dynamic.
    layout : str
        The layout the IR declares for the port, one letter per dimension (``"NCHW"``),
        or ``""`` when it declares none; not compared (ports are equal by name, type and shape).
    """

    name: str
    element_type: str
    shape: tuple[int | None, ...] | None
    layout: str = field(default="", compare=False)

    @property
    def dtype(self) -> np.dtype[Any]:
        """The numpy dtype matching ``element_type``."""
        try:
            return _NUMPY_DTYPES[self.element_type]
        except KeyError:
            raise UnsupportedElementTypeError(
                f"port {self.name!r} has element type {self.element_type}, which has no numpy dtype, so "
                "dask-openvino cannot feed or read it; convert the model with this port as f32 or f16"
            ) from None

    @property
    def batch_size(self) -> int | None:
        """The static batch (first) dimension, or ``None`` when it is dynamic."""
        if not self.shape:
            return None
        return self.shape[0]

    @property
    def row_shape(self) -> tuple[int, ...] | None:
        """The shape of one row (all dims after the batch dim) when fully static."""
        if self.shape is None or any(d is None for d in self.shape[1:]):
            return None
        return tuple(d for d in self.shape[1:] if d is not None)

    @property
    def row_size(self) -> int | None:
        """Number of values per row when ``row_shape`` is static."""
        row_shape = self.row_shape
        return None if row_shape is None else int(np.prod(row_shape, dtype=np.int64))

    def row_shape_mismatch(self, row_shape: tuple[int, ...], *, column: str) -> str | None:
        """Say why rows of ``row_shape`` cannot feed this input without reordering their values; None if they can.

        Rows are reshaped to the input's row shape in row-major order, which keeps every
        value in place only when both shapes agree once their size-1 dimensions are
        dropped (``[28, 28]`` feeds ``[?, 1, 28, 28]``; ``[32, 32, 3]`` does not feed
        ``[?, 3, 32, 32]``). Flat rows are reshaped by their number of values, unchecked.

        Parameters
        ----------
        row_shape : tuple of int
            The shape of one row of the data (without the batch dimension).
        column : str
            The column the rows come from, for the message.

        Returns
        -------
        str or None
            The message of the [`InputSchemaError`][dask_openvino.errors.InputSchemaError]
            the caller raises, naming the column, the input and both shapes.

        Examples
        --------
        >>> PortInfo("x", "f32", (None, 1, 28, 28)).row_shape_mismatch((28, 28), column="pixels") is None
        True
        """
        if self.shape is None or len(row_shape) < 2:
            return None
        wanted = self.shape[1:]
        static = self.row_shape
        if static is not None:
            fits = [d for d in row_shape if d != 1] == [d for d in static if d != 1]
        else:
            fits = len(wanted) != len(row_shape) or all(w in (None, d) for w, d in zip(wanted, row_shape, strict=True))
        if fits:
            return None
        shown = "[" + ", ".join("?" if d is None else str(d) for d in wanted) + "]"
        channels_last = static is not None and 2 <= len(row_shape) <= 4 and tuple(row_shape) == static[1:] + static[:1]
        hint = f'; for channels-last data, say input_layout="N{"DHW"[-len(row_shape) + 1 :]}C"' if channels_last else ""
        return (
            f"column {column!r} holds rows of shape {list(row_shape)}, but model input {self} takes rows of shape "
            f"{shown}: reshaping them would reorder their values{hint}"
        )

    def __str__(self) -> str:
        shape = (
            "[...]" if self.shape is None else "[" + ",".join("?" if d is None else str(d) for d in self.shape) + "]"
        )
        return f"{self.name}: {self.element_type}{shape}"


@dataclass(frozen=True)
class ModelDescription:
    """The inputs and outputs of a model, read from its IR without compiling it.

    Examples
    --------
    >>> spec = ModelSpec.from_path("model.xml")  # doctest: +SKIP
    >>> print(spec.describe())  # doctest: +SKIP
    inputs:
      x: f32[?,3]
    outputs:
      y: f32[?,1]
    """

    inputs: tuple[PortInfo, ...]
    outputs: tuple[PortInfo, ...]

    def input(self, name: str) -> PortInfo:
        """Return the input port called ``name``.

        Raises
        ------
        KeyError
            If the model has no such input; the message lists the inputs it has.
        """
        for port in self.inputs:
            if port.name == name:
                return port
        raise KeyError(f"model has no input {name!r}; its inputs are {[p.name for p in self.inputs]}")

    def __str__(self) -> str:
        lines = ["inputs:", *(f"  {p}" for p in self.inputs), "outputs:", *(f"  {p}" for p in self.outputs)]
        return "\n".join(lines)


def _freeze_config(config: Mapping[str, Any] | None) -> ConfigItems:
    """Normalise an OpenVINO property mapping to hashable, sorted string pairs."""
    if not config:
        return ()
    items = []
    for key, value in config.items():
        if isinstance(value, bool):
            text = "YES" if value else "NO"
        elif hasattr(value, "name") and not isinstance(value, str):
            text = str(value.name)  # OpenVINO enums, e.g. hints.PerformanceMode.THROUGHPUT
        else:
            text = str(value)
        items.append((str(key), text))
    return tuple(sorted(items))


def port_info(port: ov.Output) -> PortInfo:
    """Describe one port of an ``openvino.Model``.

    Parameters
    ----------
    port : openvino.Output
        An element of ``model.inputs`` or ``model.outputs``.

    Returns
    -------
    PortInfo
    """
    names = port.get_names()
    name = port.get_any_name() if names else port.get_node().get_friendly_name()
    partial = port.get_partial_shape()
    shape = None if partial.rank.is_dynamic else tuple(d.get_length() if d.is_static else None for d in partial)
    return PortInfo(
        name=name, element_type=port.get_element_type().get_type_name(), shape=shape, layout=_declared_layout(port)
    )


def _declared_layout(port: ov.Output) -> str:
    """Return the port's layout as letters (``"NCHW"``); ``""`` if the IR declares none, or not a letter per axis."""
    try:
        layout = ov.layout_helpers.get_layout(port)
    except RuntimeError:
        return ""
    axes = layout.to_string().strip("[]").split(",")
    return "".join(axes) if all(len(a) == 1 and a.isalpha() for a in axes) else ""  # an empty one reads "[...]"


def describe_model(model: ov.Model) -> ModelDescription:
    """Describe the ports of an in-memory ``openvino.Model``.

    Parameters
    ----------
    model : openvino.Model
        The model (or compiled model) to describe.

    Returns
    -------
    ModelDescription
    """
    return ModelDescription(inputs=tuple(map(port_info, model.inputs)), outputs=tuple(map(port_info, model.outputs)))


def _read(url: str, options: StorageOptions) -> bytes:
    return read_bytes(url, options, what="model file", error=ModelLoadError)


def _digest(xml: bytes, weights: bytes) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(len(xml).to_bytes(8, "little"))
    h.update(xml)
    h.update(weights)
    return h.hexdigest()


_Stamp = tuple[int, int, int, int, int]
"""What identifies one version of a local file: device, inode, size, mtime and ctime (ns)."""

_SETTLED_NS = 2 * 10**9
"""How old a file's ctime must be before its digest is memoised (see ``_fingerprint``)."""


def _stamp(path: str) -> _Stamp:
    try:
        st = os.stat(path)
    except FileNotFoundError as err:
        raise ModelLoadError(f"model file not found: {err.filename}") from err
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@state.memoize(maxsize=256)
def _local_digest(xml: str, weights: str, stamps: tuple[_Stamp, _Stamp]) -> str:
    """Digest of local files, memoised by their ``stamps`` (inode, size, mtime and ctime)."""
    return _digest(_read(xml, ()), _read(weights, ()))


def _fingerprint(xml: str, weights: str, storage_options: StorageOptions) -> str:
    """Content fingerprint of an IR, memoised for local files whose change time has not moved.

    Hashing a large ``.bin`` on every ``predict`` call costs time in proportion to its
    size (measured in ``docs/reliability.md``), so local files are hashed again only
    when their stamp changes. The stamp holds the ctime, which every write, copy or
    ``chmod`` sets to the current time and which, unlike the mtime, ``cp -p``, ``tar`` and
    ``os.utime`` cannot restore. A file whose ctime is younger than ``_SETTLED_NS`` is
    not memoised: a second write within the file system's timestamp granularity (or
    its clock skew, on network file systems) could keep the same ctime.
    """
    if is_local(xml) and is_local(weights) and not storage_options:
        stamps = (_stamp(xml), _stamp(weights))
        if all(stamp[4] < time.time_ns() - _SETTLED_NS for stamp in stamps):
            return _local_digest(xml, weights, stamps)
        return _digest(_read(xml, ()), _read(weights, ()))
    return _digest(_read(xml, storage_options), _read(weights, storage_options))


@dataclass(frozen=True)
class ModelSpec:
    """A picklable description of an OpenVINO IR model: location, content and compile options.

    This is what ``.ov.predict`` puts in the task graph. Each worker process reads
    the files, checks that their content still matches ``fingerprint``, and
    compiles the model once into its per-process cache.

    Parameters
    ----------
    xml : str
        Path or fsspec URI of the IR ``.xml`` file.
    weights : str
        Path or fsspec URI of the IR ``.bin`` file.
    fingerprint : str
        Hex digest of the ``.xml`` and ``.bin`` content seen on the client.
    device : str, default "CPU"
        OpenVINO device to compile for.
    config : tuple of (str, str) pairs
        OpenVINO compile properties that override the derived defaults
        (see [`default_compile_config`][dask_openvino.policy.default_compile_config]).
    storage_options : tuple of (str, object) pairs
        Options passed to ``fsspec.open`` for remote URIs.
    precision : {"auto", "f32", "bf16", "f16"}, default "auto"
        The inference precision asked for; ``"auto"`` is decided on each worker
        ([`choose_precision`][dask_openvino.policy.choose_precision]).
        ``INFERENCE_PRECISION_HINT`` in ``config`` wins over it.

    Examples
    --------
    >>> spec = ModelSpec.from_path("model.xml", config={"PERFORMANCE_HINT": "LATENCY"})  # doctest: +SKIP
    >>> spec.describe().inputs  # doctest: +SKIP
    """

    xml: str
    weights: str
    fingerprint: str
    device: str = "CPU"
    config: ConfigItems = ()
    storage_options: StorageOptions = field(default=(), compare=True)
    precision: str = "auto"

    @classmethod
    def from_path(
        cls,
        model: str | os.PathLike[str],
        *,
        weights: str | os.PathLike[str] | None = None,
        device: str = "CPU",
        config: Mapping[str, Any] | None = None,
        storage_options: Mapping[str, Any] | None = None,
        precision: str | None = None,
    ) -> ModelSpec:
        """Describe the IR at ``model`` and fingerprint its content.

        Parameters
        ----------
        model : str or os.PathLike
            Path or fsspec URI of the ``.xml`` file.
        weights : str or os.PathLike, optional
            Path or URI of the ``.bin`` file; by default the ``.bin`` beside the ``.xml``.
        device : str, default "CPU"
            OpenVINO device name.
        config : mapping, optional
            OpenVINO compile properties, e.g. ``{"PERFORMANCE_HINT": "LATENCY"}``.
        storage_options : mapping, optional
            fsspec options for remote URIs.
        precision : {"auto", "f32", "bf16", "f16"}, optional
            Default: Dask's ``openvino.precision`` setting (``"auto"`` unless set).

        Returns
        -------
        ModelSpec

        Raises
        ------
        ModelLoadError
            If a file does not exist or is not an ``.xml`` IR.
        """
        xml = absolute(os.fspath(model))
        if not xml.endswith(".xml"):
            raise ModelLoadError(f"expected an OpenVINO IR .xml file, got {xml!r}")
        bin_path = absolute(os.fspath(weights)) if weights is not None else xml[: -len(".xml")] + ".bin"
        options = freeze_options(storage_options)
        return cls(
            xml=xml,
            weights=bin_path,
            fingerprint=_fingerprint(xml, bin_path, options),
            device=device,
            config=_freeze_config(config),
            storage_options=options,
            precision=requested_precision(precision),
        )

    def with_options(
        self, *, device: str | None = None, config: Mapping[str, Any] | None = None, precision: str | None = None
    ) -> ModelSpec:
        """Return a copy with another device, precision and/or extra compile properties.

        ``config`` is merged over the existing configuration.
        """
        merged = dict(self.config)
        merged.update(_freeze_config(config))
        precision = self.precision if precision is None else requested_precision(precision)
        return replace(self, device=device or self.device, config=tuple(sorted(merged.items())), precision=precision)

    @property
    def name(self) -> str:
        """The IR's file name without its extension: what the Dask tasks that run it are called."""
        return self.xml.rsplit("/", 1)[-1].rsplit(".", 1)[0]

    @property
    def config_dict(self) -> dict[str, str]:
        """The compile configuration as a plain dict."""
        return dict(self.config)

    def read_model(self) -> ov.Model:
        """Read the IR, checking its content against ``fingerprint``.

        Returns
        -------
        openvino.Model

        Raises
        ------
        ModelLoadError
            If a file is missing or OpenVINO cannot parse it.
        ModelChangedError
            If the files' content changed since this spec was made.
        """
        xml = _read(self.xml, self.storage_options)
        weights = _read(self.weights, self.storage_options)
        found = _digest(xml, weights)
        if found != self.fingerprint:
            raise ModelChangedError(
                f"model {self.xml} changed since the job was built: its content fingerprint is "
                f"{found}, the job expects {self.fingerprint}. Rebuild the job to use the new model."
            )
        # The model is built from the bytes just checked, never from the files again:
        # memory-mapped weights would share memory between workers (about 100 MiB per
        # ResNet-50 worker) but change under a running job when a .bin is overwritten
        # in place, which the fingerprint exists to prevent.
        try:
            return state.core().read_model(xml, ov.Tensor(np.frombuffer(weights, dtype=np.uint8)))
        except RuntimeError as err:
            raise ModelLoadError(
                f"OpenVINO cannot read the IR {self.xml} with weights {self.weights} "
                f"({len(weights)} bytes): {openvino_message(err)}"
            ) from err

    def describe(self) -> ModelDescription:
        """Return the model's input and output ports, read from the IR without compiling.

        Returns
        -------
        ModelDescription

        Examples
        --------
        >>> for port in ModelSpec.from_path("model.xml").describe().outputs:  # doctest: +SKIP
        ...     print(port.name, port.shape)
        """
        return _describe(self.xml, self.weights, self.fingerprint, self.storage_options)


@state.memoize(maxsize=64)
def _describe(xml: str, weights: str, fingerprint: str, storage_options: StorageOptions) -> ModelDescription:
    spec = ModelSpec(xml=xml, weights=weights, fingerprint=fingerprint, storage_options=storage_options)
    return describe_model(spec.read_model())


def resolve_model(
    model: ModelSpec | str | os.PathLike[str],
    *,
    weights: str | os.PathLike[str] | None = None,
    device: str | None = None,
    config: Mapping[str, Any] | None = None,
    precision: str | None = None,
) -> ModelSpec:
    """Turn what users pass as ``model`` into a [`ModelSpec`][dask_openvino.spec.ModelSpec].

    Parameters
    ----------
    model : ModelSpec, str or os.PathLike
        A spec, or the path / URI of an ``.xml`` IR.
    weights : str or os.PathLike, optional
        The ``.bin`` path when it does not sit beside the ``.xml``.
    device : str, optional
        Overrides the spec's device.
    config : mapping, optional
        Compile properties merged over the spec's.
    precision : {"auto", "f32", "bf16", "f16"}, optional
        Overrides the spec's precision; for a path, default Dask's ``openvino.precision``.

    Returns
    -------
    ModelSpec
    """
    if isinstance(model, ModelSpec):
        if weights is not None:
            raise TypeError("weights= cannot be combined with a ModelSpec; it already names its weights")
        if device is None and not config and precision is None:
            return model
        return model.with_options(device=device, config=config, precision=precision)
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be a path, URI or ModelSpec, got {type(model).__name__}")
    return ModelSpec.from_path(model, weights=weights, device=device or "CPU", config=config, precision=precision)
