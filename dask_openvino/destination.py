"""Where an output goes: resolve its path, format and layout, and refuse unsafe or unwritable places.

[`resolve_destination`][dask_openvino.destination.resolve_destination] reads the
format (`.csv`, `.tsv`, compressed or not, else Parquet) and the layout (one file or a
directory of parts) from the name; [`check_destination`][dask_openvino.destination.check_destination]
refuses, before any work, an output that would delete what it must not: `/`, the
current or home directory or anything containing them, the input (the output is,
contains or lies inside it), or an existing directory holding files that no
dask-openvino job wrote; and an output whose parent is a file or cannot be written.
[`staged_output`][dask_openvino.destination.staged_output] finds a complete output left
in the staging directory by a run stopped while renaming it into place.
"""

from __future__ import annotations

import os
import posixpath
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from dask_openvino.errors import OutputError
from dask_openvino.parts import COMPRESSIONS, MANIFEST, PART_NAME, READ_ONLY_COMPRESSIONS, Format, read_json
from dask_openvino.storage import missing_backend

__all__ = ["Destination", "check_destination", "resolve_destination", "staged_output"]


@dataclass(frozen=True)
class Destination:
    """Where and how an output is written.

    Attributes
    ----------
    url : str
        The path or URI as given.
    fs : fsspec.AbstractFileSystem
    path : str
        The path on `fs`, without a trailing `/`.
    format : {"parquet", "csv"}
    single_file : bool
        One file, or a directory of part files.
    sep : str
        CSV field separator (a tab for `.tsv`).
    compression : str or None
        fsspec codec of CSV output (from `.gz`, `.bz2`, `.xz`, `.zst`).
    overwrite, resume : bool
        As given to [`write_scored`][dask_openvino.output.write_scored].

    Examples
    --------
    >>> dest = resolve_destination("out/scored.tsv.gz")
    >>> dest.format, dest.single_file, dest.sep == chr(9), dest.compression
    ('csv', True, True, 'gzip')
    """

    url: str
    fs: Any
    path: str
    format: Format
    single_file: bool
    sep: str
    compression: str | None
    overwrite: bool = False
    resume: bool = False

    @property
    def staging(self) -> str:
        """The hidden sibling directory the parts are written to until the job is complete."""
        parent, name = posixpath.split(self.path)
        return f"{parent}/.{name}.dask-openvino-partial"

    @property
    def previous(self) -> str:
        """The hidden sibling a replaced directory output is moved to while the new one is renamed into place."""
        return f"{self.staging}-old"

    @property
    def local(self) -> bool:
        """Whether the output is on the local file system."""
        return isinstance(self.fs, LocalFileSystem)


def resolve_destination(
    path: str | os.PathLike[str],
    *,
    format: str = "auto",
    single_file: bool | None = None,
    overwrite: bool = False,
    resume: bool = False,
) -> Destination:
    """Return where and how `path` is written, from the arguments of `write_scored`.

    Parameters
    ----------
    path : str or os.PathLike
        Output path or fsspec URI.
    format : {"auto", "parquet", "csv"}, default "auto"
        "auto": CSV if the name ends in `.csv` or `.tsv` (optionally compressed), else Parquet.
    single_file : bool, optional
        Default: one file for a CSV/TSV name, a directory otherwise.
    overwrite, resume : bool, default False
        Recorded in the result.

    Returns
    -------
    Destination

    Raises
    ------
    ValueError
        If `format` is not one of the three.
    OutputError
        If a CSV name ends in a compression that can be read but not written (`.zip`).
    MissingDependencyError
        If the URI's fsspec backend is not installed.

    Examples
    --------
    >>> resolve_destination("scored.parquet").single_file
    False
    """
    url = os.fspath(path)
    fs, stripped = _on_fs(url)
    name = posixpath.basename(stripped).lower()
    compression = None
    for suffix, codec in COMPRESSIONS.items():
        if name.endswith(suffix):
            name, compression = name.removesuffix(suffix), codec
    for suffix in READ_ONLY_COMPRESSIONS:
        if name.endswith(suffix) and name.removesuffix(suffix).endswith((".csv", ".tsv")):
            raise OutputError(
                f"cannot write {url}: {suffix} is read but not written; end the name in "
                f"{name.removesuffix(suffix)[-4:]}, optionally followed by one of {', '.join(COMPRESSIONS)}"
            )
    named_csv = name.endswith((".csv", ".tsv"))
    if format not in ("auto", "parquet", "csv"):
        raise ValueError(f"format must be 'auto', 'parquet' or 'csv', got {format!r}")
    resolved: Format = "csv" if format == "csv" or (format == "auto" and named_csv) else "parquet"
    return Destination(
        url=url,
        fs=fs,
        path=stripped,
        format=resolved,
        single_file=named_csv if single_file is None else single_file,
        sep="\t" if name.endswith(".tsv") else ",",
        compression=compression if resolved == "csv" else None,
        overwrite=overwrite,
        resume=resume,
    )


def staged_output(path: str | os.PathLike[str], *, format: str = "auto", single_file: bool | None = None) -> str | None:
    """Return the staging directory of `path` if it holds a complete output that is not in place yet.

    A run stopped while replacing a directory output (Ctrl-C, SIGTERM) puts the old one
    back and keeps the new one there; `resume` with `overwrite` renames it into place.

    Parameters
    ----------
    path : str or os.PathLike
        The output, as given to [`write_scored`][dask_openvino.output.write_scored].
    format : str, default "auto"
        As in [`write_scored`][dask_openvino.output.write_scored].
    single_file : bool, optional
        As in [`write_scored`][dask_openvino.output.write_scored].

    Returns
    -------
    str or None
        The staging directory, or None when it holds no complete output (or cannot be read).

    Examples
    --------
    >>> staged_output("scored.parquet")  # doctest: +SKIP
    '/data/.scored.parquet.dask-openvino-partial'
    """
    target = resolve_destination(path, format=format, single_file=single_file)
    try:  # asked after an interrupt: an unreachable store means "cannot tell", not a traceback
        manifest = None if target.single_file else read_json(target.fs, f"{target.staging}/{MANIFEST}")
    except (OSError, ValueError):
        manifest = None
    return target.staging if manifest is not None and manifest.get("complete") else None


def check_destination(dest: Destination, protect: Sequence[str | os.PathLike[str]] = ()) -> None:
    """Refuse an output that is unsafe to write or replace, or cannot be written; touch nothing.

    Parameters
    ----------
    dest : Destination
        The output.
    protect : sequence of str
        Paths or globs (the input) the output must not be, contain or lie inside.

    Raises
    ------
    OutputError
        Naming the path and the reason.

    Examples
    --------
    >>> check_destination(resolve_destination("/"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dask_openvino.errors.OutputError: refusing to write to /: it is or contains the root directory (/), ...
    """
    _check_places(dest, protect)
    _check_existing(dest)
    _check_writable(dest)


def _on_fs(url: str) -> tuple[Any, str]:
    """Return the file system and the path on it: without a trailing `/`, and for local paths without `..`."""
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError as err:
        raise missing_backend(url, err, action="writing") from err
    if isinstance(fs, LocalFileSystem):
        path = posixpath.normpath(path)
    return fs, path.rstrip("/") or "/"


def _inside(path: str, directory: str) -> bool:
    """Whether `path` lies strictly inside `directory`."""
    return path != directory and path.startswith(directory.rstrip("/") + "/")


def _parents(path: str) -> Iterator[str]:
    while (parent := posixpath.dirname(path)) != path:
        yield parent
        path = parent


def _check_places(dest: Destination, protect: Sequence[str | os.PathLike[str]]) -> None:
    places = [("the root directory", "/")]
    if dest.local:
        places += [("the current directory", os.getcwd()), ("the home directory", os.path.expanduser("~"))]
    for what, place in places:
        place = place.rstrip("/") or "/"
        if dest.path == place or _inside(place, dest.path):
            raise OutputError(
                f"refusing to write to {dest.url}: it is or contains {what} ({place}), which replacing "
                "the output would delete; choose a directory of its own"
            )
    for given in protect:
        if fsspec.utils.get_protocol(os.fspath(given)) != fsspec.utils.get_protocol(dest.url):
            continue  # on another file system: they cannot overlap
        _, data = _on_fs(os.fspath(given))
        magic = re.search(r"[*?\[]", data)
        # A glob protects the directory it searches and, inside it, only what it matches.
        root = posixpath.dirname(data[: magic.start()] + "x") if magic else data
        if dest.path == root or _inside(root, dest.path):
            relation = "is" if dest.path == root else "contains"
        elif _inside(dest.path, root) and (
            not magic or any(fnmatch(p, data) for p in (dest.path, *_parents(dest.path)))
        ):
            relation = "lies inside"
        else:
            continue
        raise OutputError(
            f"refusing to write to {dest.url}: it {relation} the input {os.fspath(given)}; "
            "write the output to a path of its own"
        )


def _check_existing(dest: Destination) -> None:
    fs, path = dest.fs, dest.path
    if not fs.exists(path):
        return
    if dest.overwrite:
        _check_replaceable(dest)
        return
    if dest.resume and read_json(fs, f"{path}/{MANIFEST}") is not None and not fs.exists(dest.staging):
        return  # a finished job: resuming it checks the record and writes nothing
    raise OutputError(f"output {dest.url} already exists; pass overwrite=True (--overwrite) to replace it")


def _check_replaceable(dest: Destination) -> None:
    """Replace only a previous output: a file by a file, a directory of parts and their record."""
    fs, path = dest.fs, dest.path
    if not fs.isdir(path):
        if not dest.single_file:
            raise OutputError(f"refusing to replace {dest.url}: it is a file, and the output is a directory")
        return
    foreign = sorted(
        posixpath.basename(entry["name"]) + ("/" if entry["type"] == "directory" else "")
        for entry in fs.ls(path, detail=True)
        if entry["type"] == "directory"
        or not (PART_NAME.fullmatch(posixpath.basename(entry["name"])) or posixpath.basename(entry["name"]) == MANIFEST)
    )
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise OutputError(
            f"refusing to replace {dest.url}: it holds {shown}, which no dask-openvino job wrote; "
            "remove them or choose another output"
        )


def _check_writable(dest: Destination) -> None:
    fs = dest.fs
    existing = posixpath.dirname(dest.path)
    while existing not in ("", "/") and not fs.exists(existing):
        existing = posixpath.dirname(existing)
    if existing in ("", "/") and not dest.local:
        return  # a bucket: only writing tells
    if not fs.isdir(existing):
        raise OutputError(f"cannot write {dest.url}: {existing} is a file, not a directory")
    if dest.local:
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".dask-openvino-probe-", dir=existing))
        except OSError as err:
            raise OutputError(f"cannot write {dest.url}: {existing} is not writable ({err.strerror})") from err
