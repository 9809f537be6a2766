"""Write a scored frame to files: one part per partition, each written atomically, resumable after a crash.

[`write_scored`][dask_openvino.output.write_scored] computes one write task per
partition on the workers. A directory output looks like this:

```text
scored.parquet/
    part.00000.parquet        one file per partition; lexical order is row order
    part.00001.parquet
    _dask_openvino.json       what produced the parts: model fingerprint, options, columns
```

While the job runs, the files go to a hidden sibling, `.scored.parquet.dask-openvino-partial/`,
which is renamed to the output once every part is there (a previous output replaced with
`overwrite` is moved aside meanwhile, and put back if the rename fails). Each part is written under a
temporary name and renamed, then recorded (partition number, rows, job) beside it, so a
job killed at any point leaves only whole parts. `resume=True` scores only the partitions
not yet recorded, after checking that the recorded job is this one
([`ResumeMismatchError`][dask_openvino.errors.ResumeMismatchError] names what differs).
A single-file output (`scored.csv`) is assembled from the parts by the calling process and
renamed into place.

```python
written = write_scored(scored, "scored.parquet", resume=True)
print(f"{written.scoring.rows:,} rows scored, {written.resumed} parts kept from before")
```
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
from dask.base import compute
from dask.delayed import delayed
from distributed import Client, default_client
from rich.console import Console

from dask_openvino.destination import Destination, check_destination, resolve_destination
from dask_openvino.errors import JobCancelledError, OutputError, ResumeMismatchError
from dask_openvino.parts import (
    MANIFEST,
    RECORDS,
    PartWriter,
    join_parts,
    read_json,
    remove_tree,
    type_first_part,
    write_json,
)
from dask_openvino.plan import PredictionPlan
from dask_openvino.progress import Completed, track

__all__ = ["WrittenOutput", "check_output", "write_scored"]


@dataclass(frozen=True)
class WrittenOutput:
    """What [`write_scored`][dask_openvino.output.write_scored] wrote.

    Attributes
    ----------
    url : str
        The output path or URI.
    files : tuple of str
        The part files of a directory output, in row order, or the one file's name.
    resumed : int
        Partitions already written by an earlier run of the same job and kept.
    scoring : Completed
        The partitions scored by this call: one record (partition, file, rows) each,
        their rows and the wall time.

    Examples
    --------
    >>> written = write_scored(scored, "scored.parquet")  # doctest: +SKIP
    >>> written.files[:2], written.scoring.rows  # doctest: +SKIP
    (('part.00000.parquet', 'part.00001.parquet'), 2000)
    """

    url: str
    files: tuple[str, ...]
    resumed: int
    scoring: Completed[dict[str, Any]]


def check_output(
    path: str | os.PathLike[str],
    scored: dd.DataFrame | None = None,
    *,
    format: Literal["auto", "parquet", "csv"] = "auto",
    single_file: bool | None = None,
    overwrite: bool = False,
    resume: bool = False,
    protect: Sequence[str | os.PathLike[str]] = (),
    record: Mapping[str, Any] | None = None,
) -> None:
    """Check that `scored` can be written to `path`, without scoring or writing anything.

    [`write_scored`][dask_openvino.output.write_scored] runs the same checks first;
    call this to fail before a cluster starts. The arguments mean the same.

    Parameters
    ----------
    path : str or os.PathLike
        Output path or fsspec URI.
    scored : dask.dataframe.DataFrame, optional
        The frame to write; without it only the path is checked.
    format, single_file, overwrite, resume, protect, record
        As for [`write_scored`][dask_openvino.output.write_scored].

    Raises
    ------
    OutputError
        If the path is unsafe or cannot be written, exists without `overwrite`, holds
        files no dask-openvino job wrote, or CSV is asked for tensor columns.
    ResumeMismatchError
        If `resume` finds parts written by another job.

    Examples
    --------
    >>> check_output("data", protect=["data/in.parquet"])  # doctest: +SKIP
    Traceback (most recent call last):
    ...
    dask_openvino.errors.OutputError: refusing to write to data: it contains the input data/in.parquet ...
    """
    target = resolve_destination(path, format=format, single_file=single_file, overwrite=overwrite, resume=resume)
    _check(target, scored, protect, resume=resume, record=record)


def _check(
    target: Destination,
    scored: dd.DataFrame | None,
    protect: Sequence[str | os.PathLike[str]],
    *,
    resume: bool,
    record: Mapping[str, Any] | None,
) -> None:
    check_destination(target, protect)
    if scored is None:
        return
    _check_columns(target, scored._meta)
    if resume:
        _check_same_job(target, _job_record(scored, target, record))


def _check_columns(target: Destination, meta: pd.DataFrame) -> None:
    nested = [
        str(column)
        for column, dtype in meta.dtypes.items()
        if isinstance(dtype, pd.ArrowDtype) and pa.types.is_nested(dtype.pyarrow_dtype)
    ]
    if target.format == "csv" and nested:
        raise OutputError(
            f"columns {nested} hold one tensor per row, which CSV cannot store; write Parquet "
            "(an output not ending in .csv) or leave those columns out (no kept input, other outputs, "
            "or an expanding postprocessor)"
        )


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=repr, sort_keys=True))


def _job_record(scored: dd.DataFrame, target: Destination, record: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return what produced the parts, compared field by field when a job resumes."""
    plans: dict[int, PredictionPlan] = {}
    for expr in scored.expr.walk():
        plans.update({id(op): op for op in expr.operands if isinstance(op, PredictionPlan)})
    job = {
        "models": [
            {
                "fingerprint": p.spec.fingerprint,
                "device": p.spec.device,
                "precision": p.spec.precision,
                "config": p.spec.config,
            }
            for p in plans.values()
        ],
        "options": [{f.name: repr(getattr(p, f.name)) for f in fields(p) if f.name != "spec"} for p in plans.values()],
        "columns": {str(name): str(dtype) for name, dtype in scored._meta.dtypes.items()},
        "partitions": scored.npartitions,
        "format": target.format,
        "separator": target.sep,
        "single_file": target.single_file,
        "input": dict(record or {}),
    }
    if target.format == "parquet":  # parts written before the index was stored as a column cannot be joined
        job["parts"] = "index stored as a column"
    return dict(_jsonable(job))


def _flatten(value: Any, key: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {
            k: v for name, item in value.items() for k, v in _flatten(item, f"{key}.{name}" if key else name).items()
        }
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return {k: v for i, item in enumerate(value) for k, v in _flatten(item, f"{key}[{i}]").items()}
    return {key: value}


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _check_same_job(target: Destination, job: dict[str, Any]) -> None:
    manifest = read_json(target.fs, f"{target.staging}/{MANIFEST}")
    if manifest is None:
        manifest = read_json(target.fs, f"{target.path}/{MANIFEST}")
    if manifest is None:
        return
    old, new = _flatten(manifest["job"]), _flatten(job)
    missing = "(not recorded)"
    differences = [
        f"{key}: written with {_shown(old.get(key, missing))}, now {_shown(new.get(key, missing))}"
        for key in sorted(old.keys() | new.keys())
        if old.get(key, missing) != new.get(key, missing)
    ]
    if differences:
        raise ResumeMismatchError(
            f"cannot resume {target.url}: its parts were written by another job; "
            + "; ".join(differences)
            + ". Run without resume (with overwrite) to score everything again"
        )


def write_scored(
    scored: dd.DataFrame,
    path: str | os.PathLike[str],
    *,
    format: Literal["auto", "parquet", "csv"] = "auto",
    single_file: bool | None = None,
    overwrite: bool = False,
    resume: bool = False,
    protect: Sequence[str | os.PathLike[str]] = (),
    record: Mapping[str, Any] | None = None,
    client: Client | None = None,
    console: Console | None = None,
) -> WrittenOutput:
    """Compute `scored` and write it to `path`: one part per partition, atomically, resumable.

    Parameters
    ----------
    scored : dask.dataframe.DataFrame
        The frame to write, typically the result of `ddf.ov.predict(...)`.
    path : str or os.PathLike
        Output path or fsspec URI that the workers can write.
    format : {"auto", "parquet", "csv"}, default "auto"
        "auto": CSV if `path` ends in `.csv` or `.tsv` (optionally `.gz`, `.bz2`,
        `.xz`, `.zst`), else Parquet. `.tsv` writes tab-separated values.
    single_file : bool, optional
        One file instead of a directory of parts. Default: one file for a name
        ending in `.csv`/`.tsv` (compressed as the name says), a directory otherwise.
    overwrite : bool, default False
        Replace an existing output. Only a previous output is replaced: a file for
        a single-file output, or a directory holding nothing but part files and
        `_dask_openvino.json`.
    resume : bool, default False
        Keep the parts an earlier, interrupted run of the same job wrote and score
        only the others; parts of another model, other options, columns or
        partitions are refused. A job run with `resume` also keeps its parts when it
        fails or is interrupted, for the next run.
    protect : sequence of str, default ()
        Paths (files, directories or globs) the output must not be, contain, or lie
        inside, such as the input. `/`, the current and the home directory are
        always protected.
    record : mapping, optional
        JSON-compatible facts about the job to record and compare on resume (the
        command line records its input path and format); the model fingerprints,
        `.ov.predict` options, columns and partition count are recorded anyway.
    client : distributed.Client, optional
        Where to compute; default the current client, else Dask's local scheduler.
    console : rich.console.Console, optional
        Where to draw a progress bar (with a client); default no bar.

    Returns
    -------
    WrittenOutput

    Raises
    ------
    OutputError, ResumeMismatchError
        As [`check_output`][dask_openvino.output.check_output], before any partition is scored;
        also `OutputError` if a run stopped while replacing the output left it incomplete
        (the message says where the output it replaced is), or if `resume` finds the
        finished output without some of its parts and `overwrite` is not set.
    JobCancelledError
        If the cluster cancelled the job (a lost scheduler); with `resume` the parts
        written so far are kept.

    Examples
    --------
    >>> scored = ddf.ov.predict("model.xml", inputs=["f0", "f1", "f2"])  # doctest: +SKIP
    >>> write_scored(scored, "scored.parquet", resume=True).files[0]  # doctest: +SKIP
    'part.00000.parquet'
    """
    target = resolve_destination(path, format=format, single_file=single_file, overwrite=overwrite, resume=resume)
    _check(target, scored, protect, resume=resume, record=record)  # before anything is touched
    if _recover(target):  # the output a stopped run was replacing is back: check it as it now is
        _check(target, scored, protect, resume=resume, record=record)
    job = _job_record(scored, target, record)
    key = hashlib.blake2b(json.dumps(job, sort_keys=True).encode(), digest_size=16).hexdigest()
    done = _start(target, job, key)
    missing = [n for n in range(scored.npartitions) if n not in done]
    start = time.perf_counter()
    try:
        results = _compute(scored, missing, target, key, client, console)
        written = {int(r["partition"]): r for r in results}
        records = [done.get(n) or written[n] for n in range(scored.npartitions)]
        if target.fs.exists(target.staging):  # else a finished job was resumed: nothing to do
            _finish(target, job, key, records, scored._meta)
    except BaseException as err:
        if not resume:
            remove_tree(target.fs, target.staging)
        if isinstance(err, JobCancelledError):
            kept = "its parts are kept for the next run" if resume else "with resume=True its parts would be kept"
            raise JobCancelledError(f"{err}; {kept}") from err
        raise
    # From here on the staging directory is the complete output, renamed into place. If that
    # is interrupted before anything moved, a job without resume still leaves no staging
    # directory; once an old output was moved aside, the new one is kept for a resume.
    try:
        if not target.single_file and target.fs.exists(target.staging):
            _swap(target)
    except BaseException:
        untouched = not target.fs.exists(target.path) and not target.fs.exists(target.previous)
        if not resume and untouched:
            remove_tree(target.fs, target.staging)
        raise
    rows = sum(int(r["rows"]) for r in results)
    files = (posixpath.basename(target.path),) if target.single_file else tuple(r["file"] for r in records)
    return WrittenOutput(
        url=target.url,
        files=files,
        resumed=len(done),
        scoring=Completed(results=results, rows=rows, seconds=time.perf_counter() - start),
    )


def _start(target: Destination, job: dict[str, Any], key: str) -> dict[int, dict[str, Any]]:
    """Prepare the staging directory; return the parts already written by this job (resume)."""
    fs, staging = target.fs, target.staging
    manifest = read_json(fs, f"{staging}/{MANIFEST}") if target.resume else None
    if manifest is not None:
        # One listing, not one request per part: an object store answers each.
        held = set()
        for entry in fs.ls(staging, detail=False):
            name = posixpath.basename(entry)
            if name.startswith(".") and name.endswith(".tmp"):  # a write the last run did not finish
                fs.rm(entry)
            else:
                held.add(name)
        if manifest.get("complete") and manifest.get("key") == key:
            # Interrupted while renamed into place. On an object store a rename moves file by
            # file: a part already moved is scored again, since the swap replaces the output whole.
            staged = {int(r["partition"]): r for r in manifest["parts"] if r["file"] in held}
            if len(staged) < len(manifest["parts"]):
                fs.makedirs(f"{staging}/{RECORDS}", exist_ok=True)
            return staged
        records = [read_json(fs, name) for name in fs.glob(f"{staging}/{RECORDS}/*.json")]
        return {int(r["partition"]): r for r in records if r is not None and r["job"] == key and r["file"] in held}
    final = read_json(fs, f"{target.path}/{MANIFEST}") if target.resume else None
    if final is not None and final.get("key") == key:
        held = {posixpath.basename(entry) for entry in fs.ls(target.path, detail=False)}
        lost = [r["file"] for r in final["parts"] if r["file"] not in held]
        if not lost:
            return {int(r["partition"]): r for r in final["parts"]}
        if not target.overwrite:
            shown = ", ".join(lost[:3]) + (", ..." if len(lost) > 3 else "")
            raise OutputError(
                f"cannot resume {target.url}: its record lists {len(lost)} part(s) it does not hold ({shown}); "
                "pass overwrite=True (--overwrite) with resume=True to score them again"
            )
        # A rename into place stopped after the record moved: the output is scored again.
    remove_tree(fs, staging)
    try:
        fs.makedirs(f"{staging}/{RECORDS}", exist_ok=False)
    except OSError as err:
        raise OutputError(f"cannot write {target.url}: creating {staging} failed ({err})") from err
    write_json(fs, f"{staging}/{MANIFEST}", {"key": key, "job": job, "complete": False})
    return {}


def _compute(
    scored: dd.DataFrame,
    missing: list[int],
    target: Destination,
    key: str,
    client: Client | None,
    console: Console | None,
) -> list[dict[str, Any]]:
    if not missing:
        return []
    writer = PartWriter(
        fs=target.fs,
        staging=target.staging,
        format=target.format,
        sep=target.sep,
        header=not target.single_file,
        compression=None if target.single_file else target.compression,
        job=key,
        width=max(5, len(str(scored.npartitions - 1))),
    )
    parts = scored.to_delayed()  # type: ignore[no-untyped-call]
    run = uuid.uuid4().hex[:8]
    tasks = [delayed(writer)(parts[n], n, dask_key_name=f"ov-write-part-{run}-{n}") for n in missing]
    if client is None:
        with contextlib.suppress(ValueError):
            client = default_client()  # type: ignore[no-untyped-call]
    if client is None:
        return list(compute(*tasks))  # type: ignore[no-untyped-call]
    futures = client.compute(tasks)  # type: ignore[no-untyped-call]
    done = track(futures, rows=lambda r: int(r["rows"]), console=console or Console(quiet=True))
    return done.results


def _recover(target: Destination) -> bool:
    """Undo what a run killed while replacing a directory output left: restore the old output, or remove it.

    The old output is kept aside while the new one is renamed into place. A leftover
    copy is restored if the output is missing, removed if the output is whole (so that
    the next swap does not move the output inside it), and otherwise left for the user:
    on an object store a rename copies file by file, and may have stopped half-way.
    Returns whether the old output was restored.
    """
    fs, previous, path = target.fs, target.previous, target.path
    if not fs.exists(previous):
        return False
    if not fs.exists(path):
        fs.mv(previous, path, recursive=True)
        return True
    manifest = read_json(fs, f"{path}/{MANIFEST}") if fs.isdir(path) else {"parts": []}
    if manifest is None or not all(fs.exists(f"{path}/{part['file']}") for part in manifest.get("parts", [])):
        raise OutputError(
            f"cannot write {target.url}: a run was stopped while replacing it, and it is incomplete; "
            f"the output it replaced is in {previous}: move it back to {path}, or remove it"
        )
    remove_tree(fs, previous)
    return False


def _finish(
    target: Destination, job: dict[str, Any], key: str, records: list[dict[str, Any]], meta: pd.DataFrame
) -> None:
    """Join a single-file output into place; or mark a directory output's staging complete, ready to swap."""
    fs, staging, path = target.fs, target.staging, target.path
    if target.single_file:
        if fs.isdir(path):  # a previous directory output, replaced by overwrite
            fs.rm(path, recursive=True)
        header = meta.iloc[:0].to_csv(index=False, sep=target.sep)
        files = [f"{staging}/{r['file']}" for r in records]
        join_parts(fs, files, path, target.format, header=header, compression=target.compression, meta=meta)
        remove_tree(fs, staging)
        return
    if target.format == "parquet":
        type_first_part(fs, [f"{staging}/{r['file']}" for r in records], [int(r["rows"]) for r in records], meta)
    parts = [{k: v for k, v in r.items() if k != "job"} for r in records]
    write_json(fs, f"{staging}/{MANIFEST}", {"key": key, "job": job, "complete": True, "parts": parts})
    remove_tree(fs, f"{staging}/{RECORDS}")


def _swap(target: Destination) -> None:
    """Rename the complete staging directory to the output, replacing a previous one.

    If the rename fails or is interrupted, the previous output is put back and the
    staging directory kept (a run with `resume` renames it without scoring).
    """
    fs, staging, path, previous = target.fs, target.staging, target.path, target.previous
    if not fs.exists(path):
        fs.mv(staging, path, recursive=True)
        return
    fs.mv(path, previous, recursive=True)
    try:
        fs.mv(staging, path, recursive=True)
    except BaseException:
        if not fs.exists(path):
            fs.mv(previous, path, recursive=True)
        raise
    remove_tree(fs, previous)
