"""The ``dask-openvino`` command line: score a table, inspect a model, run the demo.

::

    dask-openvino predict model.xml features.parquet -o scored.parquet --inputs f0,f1,f2
    dask-openvino info model.xml
    dask-openvino demo

``predict`` reads Parquet or CSV (local paths or fsspec URIs), scores it with
:meth:`ddf.ov.predict <dask_openvino.accessor.OpenVINODataFrameAccessor.predict>` on
a ``distributed`` cluster (a local one sized to the machine, or ``--scheduler``),
shows a live progress bar and writes one file per partition. The files are written
into a hidden sibling directory that is renamed to the output path only when every
partition succeeded, so an interrupted or failed job never leaves output that looks
complete.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import signal
import threading
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import click
import dask.dataframe as dd
import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from distributed import Client, LocalCluster
from rich.console import Console
from rich.table import Table

from dask_openvino import __version__
from dask_openvino.errors import DaskOpenVINOError
from dask_openvino.plan import InputsArg
from dask_openvino.progress import Completed, track
from dask_openvino.spec import ModelSpec

__all__ = ["main"]

Format = Literal["parquet", "csv"]

_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip")


def _split(values: Sequence[str]) -> list[str]:
    """Flatten repeated and comma-separated option values."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _parse_inputs(values: Sequence[str]) -> InputsArg:
    """Turn ``--inputs`` values into ``.ov.predict(inputs=...)``: columns, or ``NAME=COL[+COL...]`` pairs."""
    if not values:
        return None
    if not any("=" in value for value in values):
        columns = _split(values)
        return columns[0] if len(columns) == 1 else columns
    mapping: dict[str, str | list[str]] = {}
    for value in values:
        name, sep, spelled = value.partition("=")
        if not sep or not name.strip() or not spelled.strip():
            raise click.BadParameter(
                f"{value!r}: mix no plain columns with NAME=COLUMN pairs; write every item as NAME=COLUMN",
                param_hint="--inputs",
            )
        parts = [c.strip() for c in spelled.replace("+", ",").split(",") if c.strip()]
        mapping[name.strip()] = parts[0] if len(parts) == 1 else parts
    return mapping


def _parse_config(values: Sequence[str]) -> dict[str, str] | None:
    config = {}
    for value in values:
        key, sep, setting = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint="--config")
        config[key.strip()] = setting.strip()
    return config or None


_IMAGENET_MEAN = (123.675, 116.28, 103.53)
_IMAGENET_STD = (58.395, 57.12, 57.375)


def _options(
    text: str, *, allowed_flags: set[str], allowed_keys: set[str], what: str
) -> tuple[set[str], dict[str, str]]:
    flags: set[str] = set()
    named: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if sep and key in allowed_keys:
            named[key] = value.strip()
        elif not sep and key in allowed_flags:
            flags.add(key)
        else:
            known = sorted(allowed_flags) + [f"{k}=..." for k in sorted(allowed_keys)]
            raise click.BadParameter(f"{what}: unknown option {item!r}; options are {known}")
    return flags, named


def _size(text: str, what: str) -> tuple[int, int]:
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2):
        raise click.BadParameter(f"{what}={text!r}: give H or HxW in pixels")
    return (parts[0], parts[-1])


def _floats(text: str, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(p) for p in text.replace("/", ",").split(",") if p.strip())
    except ValueError:
        raise click.BadParameter(f"{what}={text!r}: give numbers separated by '/'") from None


def _image_pipeline(options: str) -> Any:
    from dask_openvino import preprocessing as pre

    flags, named = _options(
        options,
        allowed_flags={"paths", "rgb", "imagenet"},
        allowed_keys={"resize", "crop", "mean", "std", "format", "backend"},
        what="--preprocess image",
    )
    steps: list[Any] = [pre.ImageRead() if "paths" in flags else pre.ImageBytesToTensor()]
    if "resize" in named:
        steps.append(pre.ImageResize(*_size(named["resize"], "resize")))
    if "crop" in named:
        steps.append(pre.ImageCenterCrop(*_size(named["crop"], "crop")))
    mean = _floats(named["mean"], "mean") if "mean" in named else (_IMAGENET_MEAN if "imagenet" in flags else None)
    std = _floats(named["std"], "std") if "std" in named else (_IMAGENET_STD if "imagenet" in flags else None)
    if std is not None and mean is None:
        raise click.BadParameter("--preprocess image: std= needs mean=")
    if mean is not None:
        steps.append(pre.ImageChannelNormalize(mean, std))
    layout = named.get("format", "").upper() or None
    rgb = "rgb" in flags or "imagenet" in flags
    steps.append(pre.ImageMatToTensor(format=layout, to_RGB=rgb))  # type: ignore[arg-type]
    return pre.ChainedPreprocessing(steps, backend=named.get("backend", "openvino"))  # type: ignore[arg-type]


def _text_pipeline(kind: str, options: str) -> Any:
    from dask_openvino import text

    tokenizer, _, rest = options.partition(",")
    if not tokenizer.strip():
        raise click.BadParameter(f"--preprocess {kind}: give the tokenizer.json path, e.g. {kind}:model/tokenizer.json")
    embedding = kind == "sentence-embedding"
    flags, named = _options(
        rest,
        allowed_flags={"no-normalize"} if embedding else set(),
        allowed_keys={"max_length", "pooling"} if embedding else {"max_length"},
        what=f"--preprocess {kind}",
    )
    max_length = int(named["max_length"]) if "max_length" in named else None
    if embedding:
        return text.SentenceEmbedding(
            tokenizer.strip(),
            max_length=max_length,
            pooling=named.get("pooling", "mean"),  # type: ignore[arg-type]
            normalize="no-normalize" not in flags,
        )
    return text.TextTokenize(tokenizer.strip(), max_length=max_length)


def parse_preprocess(spec: str | None) -> Any:
    """Build the ``preprocess=`` pipeline described by a ``--preprocess`` value.

    Parameters
    ----------
    spec : str or None
        ``KIND[:OPTIONS]`` as described by ``dask-openvino predict --help``.

    Returns
    -------
    ChainedPreprocessing, TextTokenize, SentenceEmbedding or None

    Raises
    ------
    click.BadParameter
        If the kind or an option is unknown or malformed.

    Examples
    --------
    >>> parse_preprocess("image:resize=256,crop=224,imagenet").backend
    'openvino'
    """
    if spec is None:
        return None
    kind, _, options = spec.partition(":")
    kind = kind.strip().lower()
    try:
        if kind == "image":
            return _image_pipeline(options)
        if kind in ("text", "sentence-embedding"):
            return _text_pipeline(kind, options)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--preprocess") from err
    raise click.BadParameter(f"unknown kind {kind!r}; use image, text or sentence-embedding", param_hint="--preprocess")


def _postprocessor(spec: str, labels: Sequence[str] | None) -> Any:
    from dask_openvino import postprocessing as post

    kind, _, options = spec.partition(":")
    kind = kind.strip().lower()
    what = f"--postprocess {kind}"
    if kind == "softmax":
        flags, _ = _options(options, allowed_flags={"expand"}, allowed_keys=set(), what=what)
        return post.Softmax(expand="expand" in flags)
    if kind == "argmax":
        _options(options, allowed_flags=set(), allowed_keys=set(), what=what)
        return post.ArgMax(labels)
    if kind == "expand":
        _options(options, allowed_flags=set(), allowed_keys=set(), what=what)
        return post.Expand()
    if kind in ("topk", "threshold"):
        number, _, rest = options.partition(",")
        flags, _ = _options(
            rest, allowed_flags={"softmax", "expand"} if kind == "topk" else {"expand"}, allowed_keys=set(), what=what
        )
        try:
            if kind == "topk":
                return post.TopK(int(number), labels, softmax="softmax" in flags, expand="expand" in flags)
            return post.Threshold(float(number) if number.strip() else 0.5, expand="expand" in flags)
        except ValueError as err:
            raise click.BadParameter(f"{spec!r}: {err}", param_hint="--postprocess") from err
    raise click.BadParameter(
        f"unknown kind {kind!r}; use softmax, argmax, topk, threshold or expand", param_hint="--postprocess"
    )


def parse_postprocess(specs: Sequence[str], labels: Sequence[str] | None = None) -> Any:
    """Build the ``postprocess=`` argument described by ``--postprocess`` values.

    Parameters
    ----------
    specs : sequence of str
        ``[OUTPUT=]KIND[:OPTIONS]`` values, as described by ``dask-openvino predict --help``.
    labels : sequence of str, optional
        Class names for ``argmax`` and ``topk``.

    Returns
    -------
    Postprocessor, dict of str to Postprocessor, or None

    Raises
    ------
    click.BadParameter
        If a kind or option is unknown, or several values do not all name their output.

    Examples
    --------
    >>> parse_postprocess(["topk:3,softmax"]).k
    3
    >>> sorted(parse_postprocess(["logits=argmax", "score=threshold:0.9"]))
    ['logits', 'score']
    """
    if not specs:
        return None
    named: dict[str, Any] = {}
    bare: list[Any] = []
    for spec in specs:
        head, colon, _ = spec.partition(":")
        output, equals, kind = head.partition("=")
        if equals:
            named[output.strip()] = _postprocessor(kind + colon + spec[len(head) + 1 :] if colon else kind, labels)
        else:
            bare.append(_postprocessor(spec, labels))
    if bare and (named or len(bare) > 1):
        raise click.BadParameter(
            "with several --postprocess values, write each as OUTPUT=KIND", param_hint="--postprocess"
        )
    return bare[0] if bare else named


def _read_labels(path: str | None) -> list[str] | None:
    if path is None:
        return None
    with fsspec.open(path, "r", encoding="utf-8") as f:
        labels = [line.strip() for line in f if line.strip()]
    if not labels:
        raise click.BadParameter(f"{path} holds no labels", param_hint="--labels")
    return labels


def _format_of(path: str, given: str) -> Format:
    if given != "auto":
        return "csv" if given == "csv" else "parquet"
    name = path.rstrip("/").lower()
    for suffix in _COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    return "csv" if name.endswith((".csv", ".tsv")) else "parquet"


def _read(path: str, fmt: Format, partitions: int | None) -> dd.DataFrame:
    try:
        if fmt == "csv":
            frame: dd.DataFrame = dd.read_csv(path, sep="\t" if path.rstrip("/").lower().endswith(".tsv") else ",")
        else:
            # pyarrow dtypes keep tensor (list) columns in Arrow buffers, not one numpy array per row.
            frame = dd.read_parquet(path, dtype_backend="pyarrow")
    except (FileNotFoundError, OSError, ValueError) as err:
        raise click.ClickException(f"cannot read {fmt} input {path}: {err}") from err
    if partitions is not None and partitions != frame.npartitions:
        frame = frame.repartition(npartitions=partitions)
    return frame


def write_partition(frame: pd.DataFrame, fs: Any, directory: str, fmt: Format, partition_info: Any = None) -> pd.Series:
    """Write one scored partition to ``directory/part.<n>.<fmt>``; the task ``predict`` maps.

    Parameters
    ----------
    frame : pandas.DataFrame
        The scored partition.
    fs : fsspec.AbstractFileSystem
        The output's file system.
    directory : str
        The staging directory (it must exist: a task that outlives a cancelled job
        fails instead of recreating a directory that was cleaned up).
    fmt : {"parquet", "csv"}
        File format.
    partition_info : dict, optional
        Filled in by ``map_partitions`` with the partition number.

    Returns
    -------
    pandas.Series
        One value: the number of rows written.
    """
    number = partition_info["number"] if partition_info else 0
    path = f"{directory}/part.{number}.{fmt}"
    if fmt == "parquet":
        with fs.open(path, "wb") as f:
            pq.write_table(_arrow_table(frame), f)
    else:
        with fs.open(path, "w", encoding="utf-8", newline="") as f:
            frame.to_csv(f, index=False)
    return pd.Series([len(frame)], name="rows", dtype="int64")


def _arrow_table(frame: pd.DataFrame) -> pa.Table:
    """Convert a partition for Parquet so that plain ``pandas.read_parquet`` reads it back.

    pandas records a list column's dtype as text such as
    ``fixed_size_list<item: float>[10][pyarrow]``, which ``read_parquet`` cannot parse
    back (it raises ``NotImplementedError``). Recording those columns as ``object``
    makes pandas read them as arrays per row, and ``dtype_backend="pyarrow"`` as
    list columns again.
    """
    table = pa.Table.from_pandas(frame)
    metadata = dict(table.schema.metadata or {})
    if b"pandas" not in metadata:
        return table
    described = json.loads(metadata[b"pandas"])
    for column in described.get("columns", []):
        name = column.get("field_name")
        if name in table.column_names and pa.types.is_nested(table.schema.field(name).type):
            column["numpy_type"] = "object"
    metadata[b"pandas"] = json.dumps(described).encode()
    return table.replace_schema_metadata(metadata)


class StagedOutput:
    """An output directory that appears only once it is complete.

    Files are written into a hidden sibling directory
    (``.<name>.dask-openvino-<random>``); :meth:`commit` renames it to the output
    path. Leaving the ``with`` block with an exception removes the staging
    directory instead.

    Parameters
    ----------
    url : str
        Output path or fsspec URI.
    overwrite : bool, default False
        Replace an existing output at commit; otherwise an existing output is an error.

    Examples
    --------
    >>> with StagedOutput("scored.parquet") as out:  # doctest: +SKIP
    ...     write_partition(frame, out.fs, out.staging, "parquet")
    ...     out.commit()
    """

    def __init__(self, url: str, *, overwrite: bool = False) -> None:
        self.fs, path = fsspec.core.url_to_fs(url)
        self.path = path.rstrip("/")
        self.url = url
        self.overwrite = overwrite
        name = self.path.rsplit("/", 1)[-1]
        self.staging = f"{self.fs._parent(self.path)}/.{name}.dask-openvino-{uuid.uuid4().hex[:12]}"
        self.committed = False

    def __enter__(self) -> StagedOutput:
        if self.fs.exists(self.path) and not self.overwrite:
            raise click.ClickException(f"output {self.url} already exists; pass --overwrite to replace it")
        self.fs.makedirs(self.staging, exist_ok=False)
        return self

    def commit(self) -> None:
        """Move the staged files to the output path, replacing it if ``overwrite``."""
        if self.fs.exists(self.path):
            if not self.overwrite:
                raise click.ClickException(f"output {self.url} appeared while the job ran; pass --overwrite")
            self.fs.rm(self.path, recursive=True)
        self.fs.mv(self.staging, self.path, recursive=True)
        self.committed = True

    def __exit__(self, *exc_info: object) -> None:
        if self.committed:
            return
        try:
            self.fs.rm(self.staging, recursive=True)
        except FileNotFoundError:
            pass
        except OSError as err:
            # A task of a remote cluster may still be writing; the hidden name never looks complete.
            logging.getLogger(__name__).warning("could not remove the staging directory %s: %s", self.staging, err)


@dataclass(frozen=True)
class ClusterOptions:
    """Where a command runs: an existing scheduler, or a local cluster of this size.

    Attributes
    ----------
    scheduler : str or None
        Address of a running scheduler (``tcp://host:8786``); ``None`` starts a
        ``distributed.LocalCluster``.
    workers : int or None
        Worker processes of the local cluster (default: sized to the machine).
    threads_per_worker : int or None
        Threads per local worker (default: sized to the machine).
    dashboard_address : str
        Where the local cluster serves its dashboard (``":0"``: any free port).
    """

    scheduler: str | None = None
    workers: int | None = None
    threads_per_worker: int | None = None
    dashboard_address: str = ":8787"


@contextmanager
def connect(options: ClusterOptions, console: Console) -> Iterator[Client]:
    """Connect to ``options.scheduler``, or start a local cluster; close what was started.

    Parameters
    ----------
    options : ClusterOptions
        Where to run.
    console : rich.console.Console
        Where to print the cluster and its dashboard link.

    Yields
    ------
    distributed.Client
    """
    if options.scheduler is not None:
        with Client(options.scheduler) as client:  # type: ignore[no-untyped-call]
            workers = client.scheduler_info(n_workers=-1)["workers"]
            threads = sum(w["nthreads"] for w in workers.values())
            console.print(
                f"Cluster: {options.scheduler} ({_plural(len(workers), 'worker')}, {_plural(threads, 'thread')})"
            )
            _print_dashboard(client, console)
            with _quiet_shutdown_on_ctrl_c():
                yield client
        return
    with _workers_ignore_ctrl_c(), warnings.catch_warnings():
        # A busy dashboard port makes distributed pick another one and warn; the link printed below is the real one.
        warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=options.workers,
            threads_per_worker=options.threads_per_worker,
            processes=True,
            dashboard_address=options.dashboard_address,
            silence_logs=logging.ERROR,
        )
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        workers = client.scheduler_info(n_workers=-1)["workers"]
        threads = sorted({w["nthreads"] for w in workers.values()})
        per_worker = "/".join(str(t) for t in threads) + (" thread" if threads == [1] else " threads")
        console.print(f"Cluster: local, {_plural(len(workers), 'worker')} x {per_worker}")
        _print_dashboard(client, console)
        with _quiet_shutdown_on_ctrl_c():
            yield client


@contextmanager
def _quiet_shutdown_on_ctrl_c() -> Iterator[None]:
    """After Ctrl-C, keep the cluster's shutdown from printing tracebacks.

    Closing the client while it still gathers results makes tornado log the closed
    connection's traceback (seen in a CI run); the command has already
    said what happened, and it is exiting.
    """
    try:
        yield
    except KeyboardInterrupt:
        for name in ("tornado", "asyncio", "distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        raise


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Start worker processes with SIGINT ignored.

    Ctrl-C in a terminal signals the whole process group, local workers included;
    they would die mid-task printing tracebacks. Ignored signals stay ignored in
    spawned children, so only this process sees Ctrl-C and shuts the cluster down.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _print_dashboard(client: Client, console: Console) -> None:
    link = client.dashboard_link
    if importlib.util.find_spec("bokeh") is None:
        console.print(f"Dashboard: {link} (needs bokeh: pip install bokeh)")
    else:
        console.print(f"Dashboard: {link}")


def _csv_safe(meta: pd.DataFrame) -> None:
    nested = [
        str(column)
        for column, dtype in meta.dtypes.items()
        if isinstance(dtype, pd.ArrowDtype) and pa.types.is_nested(dtype.pyarrow_dtype)
    ]
    if nested:
        raise click.ClickException(
            f"columns {nested} hold one tensor per row, which CSV cannot store; write Parquet "
            "(an OUTPUT not ending in .csv) or choose --no-keep-input / other outputs"
        )


@dataclass(frozen=True)
class PredictJob:
    """Everything ``dask-openvino predict`` needs, parsed from the command line.

    Attributes
    ----------
    model : str
        IR ``.xml`` path or URI.
    input : str
        Input path, glob or URI.
    output : str
        Output directory path or URI.
    inputs : None, str, list or dict
        As ``.ov.predict(inputs=...)``.
    batch_size : int or None
        As ``.ov.predict(batch_size=...)``.
    keep_input : bool
        As ``.ov.predict(keep_input=...)``.
    output_names : list of str or None
        As ``.ov.predict(output_names=...)``.
    device : str
        OpenVINO device.
    config : dict or None
        OpenVINO compile properties.
    input_format, output_format : {"parquet", "csv"}
        File formats.
    partitions : int or None
        Repartition the input into this many partitions.
    overwrite : bool
        Replace an existing output.
    preprocess, postprocess, errors
        As ``.ov.predict(preprocess=..., postprocess=..., errors=...)``.
    """

    model: str
    input: str
    output: str
    inputs: InputsArg = None
    batch_size: int | None = None
    keep_input: bool = True
    output_names: list[str] | None = None
    device: str = "CPU"
    config: Mapping[str, str] | None = None
    input_format: Format = "parquet"
    output_format: Format = "parquet"
    partitions: int | None = None
    overwrite: bool = False
    preprocess: Any = None
    postprocess: Any = None
    errors: Literal["raise", "null"] = "raise"


def build_scoring(job: PredictJob) -> dd.DataFrame:
    """Read ``job.input`` lazily and apply ``.ov.predict``; check everything that ``meta`` shows.

    Parameters
    ----------
    job : PredictJob
        What to score.

    Returns
    -------
    dask.dataframe.DataFrame
        The scored frame, not computed.

    Raises
    ------
    DaskOpenVINOError
        If the model cannot be read or the columns do not fit it.
    click.ClickException
        If the input cannot be read, or CSV output is asked for tensor columns.
    """
    frame = _read(job.input, job.input_format, job.partitions)
    scored: dd.DataFrame = frame.ov.predict(
        job.model,
        inputs=job.inputs,
        batch_size=job.batch_size,
        output_names=job.output_names,
        keep_input=job.keep_input,
        config=job.config,
        device=job.device,
        preprocess=job.preprocess,
        postprocess=job.postprocess,
        errors=job.errors,
    )
    if job.output_format == "csv":
        _csv_safe(scored._meta)
    return scored


def write_scored(
    scored: dd.DataFrame, out: StagedOutput, fmt: Format, client: Client, console: Console
) -> Completed[pd.Series]:
    """Compute ``scored`` on ``client``, one file per partition into ``out.staging``, with a progress bar.

    Parameters
    ----------
    scored : dask.dataframe.DataFrame
        The frame to write.
    out : StagedOutput
        The output being staged (not committed here).
    fmt : {"parquet", "csv"}
        File format.
    client : distributed.Client
        The cluster to run on.
    console : rich.console.Console
        Where the progress bar goes.

    Returns
    -------
    Completed
        Rows written and the wall time.
    """
    counts = scored.map_partitions(  # type: ignore[no-untyped-call]
        write_partition, out.fs, out.staging, fmt, meta=pd.Series(dtype="int64", name="rows")
    )
    futures = client.compute(counts.to_delayed())  # type: ignore[no-untyped-call]
    return track(futures, rows=lambda rows: int(rows.iloc[0]), description="scoring", console=console)


def _summary(done: Completed[Any]) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_row("rows scored", f"{done.rows:,}")
    table.add_row("partitions", f"{done.partitions:,}")
    table.add_row("time", f"{done.seconds:.2f} s")
    table.add_row("throughput", f"{done.rows_per_second:,.0f} rows/s")
    return table


_cluster_options = [
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


def _with_cluster_options(command: Any) -> Any:
    for option in reversed(_cluster_options):
        command = option(command)
    return command


def _cluster(
    scheduler: str | None, workers: int | None, threads_per_worker: int | None, dashboard_address: str
) -> ClusterOptions:
    if scheduler is not None and (workers is not None or threads_per_worker is not None):
        raise click.UsageError(
            "--scheduler runs on an existing cluster; --workers/--threads-per-worker size a local one"
        )
    return ClusterOptions(
        scheduler=scheduler,
        workers=workers,
        threads_per_worker=threads_per_worker,
        dashboard_address=dashboard_address,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="dask-openvino")
def main() -> None:
    """Fast, distributed batch inference over tables with OpenVINO on CPUs.

    \b
    Examples:
      dask-openvino demo
      dask-openvino info model.xml
      dask-openvino predict model.xml features.parquet -o scored.parquet --inputs f0,f1,f2

    Run `dask-openvino COMMAND --help` for each command's options.
    """  # noqa: D301  (click's no-rewrap marker is a literal backspace)


@main.command()
@click.argument("model")
@click.argument("input_path", metavar="INPUT")
@click.option("-o", "--output", required=True, help="Output directory path or URI (one file per partition).")
@click.option(
    "--inputs",
    "inputs",
    multiple=True,
    metavar="COLS",
    help="Columns feeding the model, in input order (repeat or comma-separate), or NAME=COL pairs "
    "(NAME=COL1+COL2 stacks columns). Default: columns named like the model's inputs.",
)
@click.option("--output-names", multiple=True, metavar="NAMES", help="Result column names, in output order.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Rows per inference [default: from the model].")
@click.option(
    "--keep-input/--no-keep-input", default=True, show_default=True, help="Keep the input columns in the output."
)
@click.option("--device", default="CPU", show_default=True, help="OpenVINO device.")
@click.option("--config", multiple=True, metavar="KEY=VALUE", help="OpenVINO compile property (repeatable).")
@click.option("--partitions", type=click.IntRange(min=1), help="Repartition the input into this many partitions first.")
@click.option(
    "--input-format",
    type=click.Choice(["auto", "parquet", "csv"]),
    default="auto",
    show_default=True,
    help="auto: CSV if INPUT ends with .csv/.tsv (optionally compressed), else Parquet.",
)
@click.option(
    "--output-format",
    type=click.Choice(["auto", "parquet", "csv"]),
    default="auto",
    show_default=True,
    help="auto: CSV if OUTPUT ends with .csv, else Parquet.",
)
@click.option(
    "--preprocess",
    metavar="KIND[:OPTIONS]",
    help="Turn an image or text column into the model input on the workers (see Preprocessing above).",
)
@click.option(
    "--postprocess",
    multiple=True,
    metavar="[OUTPUT=]KIND[:OPTIONS]",
    help="Turn an output into label / probability columns (see Postprocessing above).",
)
@click.option("--labels", metavar="FILE", help="Class names, one per line, for argmax and topk.")
@click.option(
    "--errors",
    type=click.Choice(["raise", "null"]),
    default="raise",
    show_default=True,
    help="A row that cannot be preprocessed or scored fails the job (raise), or gets null outputs and its "
    "reason in a prediction_error column (null).",
)
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@_with_cluster_options
def predict(
    model: str,
    input_path: str,
    output: str,
    inputs: tuple[str, ...],
    output_names: tuple[str, ...],
    batch_size: int | None,
    keep_input: bool,
    device: str,
    config: tuple[str, ...],
    partitions: int | None,
    input_format: str,
    output_format: str,
    preprocess: str | None,
    postprocess: tuple[str, ...],
    labels: str | None,
    errors: Literal["raise", "null"],
    overwrite: bool,
    scheduler: str | None,
    workers: int | None,
    threads_per_worker: int | None,
    dashboard_address: str,
) -> None:
    """Score a Parquet or CSV table with an OpenVINO model and write the result.

    MODEL is an OpenVINO IR .xml (its .bin beside it). INPUT is a Parquet file,
    directory or glob, or CSV file(s); local paths or fsspec URIs (s3://, gs://,
    ...; workers must be able to read and write them). OUTPUT is a directory of
    part files, written under a hidden temporary name and renamed when every
    partition is done: a failed or interrupted job leaves no OUTPUT.

    Without --scheduler a local cluster sized to this machine runs the job.
    Each model output becomes a column ("prediction" for a single output).

    \b
    Preprocessing (--preprocess KIND:OPTIONS, options comma-separated), applied to
    the column --inputs maps to the model input (--inputs image=jpeg):
      image[:OPTIONS]      decode an image column of bytes; options: paths (the column
                           holds paths or URIs), resize=H[xW], crop=H[xW], mean=R/G/B,
                           std=R/G/B (0..255 scale), rgb (else BGR), imagenet (ImageNet
                           mean/std, RGB), format=NCHW|NHWC, backend=numpy
      text:TOKENIZER_JSON[,max_length=N]
                           tokenize a text column with a Hugging Face tokenizer.json
      sentence-embedding:TOKENIZER_JSON[,max_length=N,pooling=mean|cls,no-normalize]
                           tokenize, then pool to one normalised vector per row

    \b
    Postprocessing (--postprocess [OUTPUT=]KIND[:OPTIONS]; name OUTPUT when
    repeating it for several outputs; --labels FILE names the classes):
      softmax[:expand]              probabilities (expand: one column per class)
      argmax                        the best class (index, or label with --labels)
      topk:K[,softmax,expand]       K best classes and their scores
      threshold:VALUE[,expand]      output > VALUE
      expand                        one column per value of a vector output

    \b
    Examples:
      dask-openvino predict model.xml features.parquet -o scored.parquet --inputs f0,f1,f2
      dask-openvino predict model.xml 'data/*.csv' -o scored.csv --no-keep-input
      dask-openvino predict model.xml s3://bucket/features/ -o s3://bucket/scored/
          --scheduler tcp://10.0.0.5:8786 --batch-size 256
      dask-openvino predict two_inputs.xml t.parquet -o out.parquet
          --inputs ids=tokens --inputs mask=attention
      dask-openvino predict resnet50.xml photos.parquet -o labels.parquet --inputs image=jpeg
          --preprocess image:resize=256,crop=224,imagenet --postprocess topk:5,softmax
          --labels classes.txt
      dask-openvino predict minilm.xml docs.parquet -o emb.parquet --inputs input_ids=text
          --preprocess sentence-embedding:minilm/tokenizer.json
      dask-openvino predict model.xml t.parquet -o out.parquet --workers 2
          --threads-per-worker 4 --config PERFORMANCE_HINT=LATENCY
    """  # noqa: D301  (click's no-rewrap marker is a literal backspace)
    console = Console()
    job = PredictJob(
        model=model,
        input=input_path,
        output=output,
        inputs=_parse_inputs(inputs),
        batch_size=batch_size,
        keep_input=keep_input,
        output_names=_split(output_names) or None,
        device=device,
        config=_parse_config(config),
        input_format=_format_of(input_path, input_format),
        output_format=_format_of(output, output_format),
        partitions=partitions,
        overwrite=overwrite,
        preprocess=parse_preprocess(preprocess),
        postprocess=parse_postprocess(postprocess, _read_labels(labels)),
        errors=errors,
    )
    cluster = _cluster(scheduler, workers, threads_per_worker, dashboard_address)
    try:
        scored = build_scoring(job)
        # The cluster closes before the staging directory is removed on failure, so no
        # worker of a local cluster is still writing into it.
        with StagedOutput(output, overwrite=overwrite) as out:
            with connect(cluster, console) as client:
                done = write_scored(scored, out, job.output_format, client, console)
            out.commit()
    except KeyboardInterrupt:
        console.print("[red]Interrupted[/red]: the job was cancelled and no output was written.")
        raise SystemExit(130) from None
    except DaskOpenVINOError as err:
        raise click.ClickException(f"{type(err).__name__}: {err}") from err
    console.print(_summary(done))
    console.print(f"Output: {output}", soft_wrap=True)


@main.command()
@click.argument("model")
@click.option("--weights", help="The .bin file, when it does not sit beside the .xml.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def info(model: str, weights: str | None, as_json: bool) -> None:
    """Show a model's inputs, outputs and content fingerprint.

    MODEL is an OpenVINO IR .xml path or URI. The fingerprint is the hash every
    worker checks before it runs the model (see ModelChangedError).

    \b
    Examples:
      dask-openvino info model.xml
      dask-openvino info s3://bucket/models/model.xml --json
    """  # noqa: D301  (click's no-rewrap marker is a literal backspace)
    try:
        spec = ModelSpec.from_path(model, weights=weights)
        description = spec.describe()
    except DaskOpenVINOError as err:
        raise click.ClickException(f"{type(err).__name__}: {err}") from err
    if as_json:
        ports = {
            kind: [{"name": p.name, "element_type": p.element_type, "shape": p.shape} for p in group]
            for kind, group in (("inputs", description.inputs), ("outputs", description.outputs))
        }
        click.echo(json.dumps({"xml": spec.xml, "weights": spec.weights, "fingerprint": spec.fingerprint, **ports}))
        return
    click.echo(f"model:       {spec.xml}")
    click.echo(f"weights:     {spec.weights}")
    click.echo(f"fingerprint: {spec.fingerprint}")
    click.echo(str(description))


@main.command()
@click.option("--rows", type=click.IntRange(min=1000), help="Rows to score [default: 1,000,000; 20,000 with --quick].")
@click.option("--quick", is_flag=True, help="A small, fast run (for tests and a first look).")
@click.option("--int8/--no-int8", default=True, show_default=True, help="Also quantize to INT8 and score with it.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    help="Where to keep the model and data [default: a temporary directory, removed at the end].",
)
@_with_cluster_options
def demo(
    rows: int | None,
    quick: bool,
    int8: bool,
    workdir: str | None,
    scheduler: str | None,
    workers: int | None,
    threads_per_worker: int | None,
    dashboard_address: str,
) -> None:
    """Train, convert and score a real model end to end; nothing is downloaded.

    Trains a scikit-learn MLPClassifier on the handwritten digits that ship with
    scikit-learn, converts it to OpenVINO IR (and INT8 when NNCF is installed),
    writes held-out digits enlarged with noise as Parquet, scores them on a local
    Dask cluster with a progress bar, and prints accuracy, throughput and the
    speedup over scikit-learn's own predict on the same rows.

    \b
    Examples:
      dask-openvino demo
      dask-openvino demo --quick
      dask-openvino demo --rows 2000000 --workers 2 --threads-per-worker 1
    """  # noqa: D301  (click's no-rewrap marker is a literal backspace)
    from dask_openvino.demo import DemoOptions, run_demo

    console = Console()
    options = DemoOptions(
        rows=rows if rows is not None else (20_000 if quick else 1_000_000),
        quick=quick,
        int8=int8,
        workdir=workdir,
    )
    cluster = _cluster(scheduler, workers, threads_per_worker, dashboard_address)
    try:
        run_demo(options, cluster, console)
    except KeyboardInterrupt:
        console.print("[red]Interrupted[/red].")
        raise SystemExit(130) from None
    except DaskOpenVINOError as err:
        raise click.ClickException(f"{type(err).__name__}: {err}") from err


def _per_input(values: Sequence[str], parse: Any, option: str) -> Any:
    """``VALUE`` for the only input, or ``NAME=VALUE`` pairs, as a value or a dict."""
    if not values:
        return None
    named: dict[str, Any] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if sep:
            named[name.strip()] = parse(rest.strip(), option)
        elif len(values) > 1:
            raise click.BadParameter(f"repeat {option} only as NAME=VALUE, one per model input", param_hint=option)
        else:
            return parse(value.strip(), option)
    return named


def _shape(text: str, option: str) -> list[int | None]:
    dims: list[int | None] = []
    for part in text.replace("[", "").replace("]", "").split(","):
        part = part.strip()
        if part in ("?", "-1"):
            dims.append(None)
        elif part.isdigit():
            dims.append(int(part))
        else:
            raise click.BadParameter(
                f"{text!r}: give dimensions like 1,3,224,224 (? or -1: dynamic)", param_hint=option
            )
    return dims


def _values(text: str, option: str) -> float | list[float]:
    numbers = list(_floats(text, option))
    if not numbers:
        raise click.BadParameter(f"{text!r}: give one number or one per channel", param_hint=option)
    return numbers[0] if len(numbers) == 1 else numbers


def _layout(text: str, option: str) -> str:
    return text.upper()


def _print_spec(spec: ModelSpec) -> None:
    click.echo(f"model:       {spec.xml}")
    click.echo(f"weights:     {spec.weights}")
    click.echo(f"fingerprint: {spec.fingerprint}")
    click.echo(str(spec.describe()))


@main.command()
@click.argument("source")
@click.option("-o", "--output-dir", required=True, help="Directory for NAME.xml and NAME.bin (created if missing).")
@click.option("--name", help="File stem of the IR [default: SOURCE's stem].")
@click.option("--input-shape", multiple=True, metavar="[NAME=]DIMS", help="New input shape, e.g. 1,3,224,224 or ?,64.")
@click.option("--layout", multiple=True, metavar="[NAME=]LAYOUT", help="Input layout, e.g. NCHW, NHWC or NC.")
@click.option(
    "--mean-values", multiple=True, metavar="[NAME=]VALUES", help="Subtracted from the input: one value or R/G/B."
)
@click.option(
    "--scale-values",
    multiple=True,
    metavar="[NAME=]VALUES",
    help="The input minus the mean is divided by it: one value or R/G/B.",
)
@click.option("--reverse-input-channels", is_flag=True, help="Reverse the channel order (BGR <-> RGB) first.")
@click.option("--compress-to-fp16", is_flag=True, help="Store float weights as FP16 (half the size).")
def convert(
    source: str,
    output_dir: str,
    name: str | None,
    input_shape: tuple[str, ...],
    layout: tuple[str, ...],
    mean_values: tuple[str, ...],
    scale_values: tuple[str, ...],
    reverse_input_channels: bool,
    compress_to_fp16: bool,
) -> None:
    """Convert an ONNX, TensorFlow, TFLite or PaddlePaddle model to OpenVINO IR.

    SOURCE is a model file (.onnx, .pb, .tflite, .pdmodel) or a TensorFlow
    SavedModel directory. Mean, scale and channel reversal are embedded in the
    model graph, so they run inside OpenVINO. Values given as NAME=VALUE apply
    to that model input; plain values to the only input. PyTorch modules and
    scikit-learn estimators are converted from Python with
    dask_openvino.convert.convert.

    \b
    Examples:
      dask-openvino convert model.onnx -o models/
      dask-openvino convert resnet.onnx -o models/ --input-shape ?,3,224,224 --layout NCHW
          --mean-values 123.675/116.28/103.53 --scale-values 58.395/57.12/57.375
          --reverse-input-channels
      dask-openvino convert saved_model/ -o models/ --name classifier --compress-to-fp16
    """  # noqa: D301  (click's no-rewrap marker is a literal backspace)
    from dask_openvino.convert import convert as convert_source

    try:
        spec = convert_source(
            source,
            output_dir,
            input_shape=_per_input(input_shape, _shape, "--input-shape"),
            layout=_per_input(layout, _layout, "--layout"),
            mean_values=_per_input(mean_values, _values, "--mean-values"),
            scale_values=_per_input(scale_values, _values, "--scale-values"),
            reverse_input_channels=reverse_input_channels,
            compress_to_fp16=compress_to_fp16,
            name=name,
        )
    except (DaskOpenVINOError, ValueError) as err:
        raise click.ClickException(f"{type(err).__name__}: {err}") from err
    _print_spec(spec)


@main.command()
@click.argument("model")
@click.argument("calibration")
@click.option("-o", "--output-dir", required=True, help="Directory for the INT8 IR (MODEL's stem + '-int8').")
@click.option("--inputs", "inputs", multiple=True, metavar="COLS", help="Columns feeding the model, as for predict.")
@click.option(
    "--subset-size", type=click.IntRange(min=1), default=300, show_default=True, help="Calibration rows sampled."
)
@click.option(
    "--preset",
    type=click.Choice(["performance", "mixed"]),
    default="performance",
    show_default=True,
    help="NNCF preset: symmetric, or asymmetric activations (for activations not centred on zero).",
)
@click.option("--transformer", is_flag=True, help="The model is a transformer (NNCF keeps sensitive ops in float).")
@click.option(
    "--holdout",
    metavar="DATA",
    help="Parquet or CSV rows (not the calibration rows) to compare INT8 with the original on.",
)
@click.option("--holdout-rows", type=click.IntRange(min=1), default=2000, show_default=True, help="Holdout rows used.")
def quantize(
    model: str,
    calibration: str,
    output_dir: str,
    inputs: tuple[str, ...],
    subset_size: int,
    preset: str,
    transformer: bool,
    holdout: str | None,
    holdout_rows: int,
) -> None:
    """Quantize an IR to INT8 with NNCF, calibrated on rows of a table.

    MODEL is an OpenVINO IR .xml. CALIBRATION is Parquet or CSV data like the
    data you will score; --subset-size rows are sampled from it and mapped to
    the model's inputs exactly as predict maps them. With --holdout, the INT8
    model is compared with MODEL on other rows: largest absolute difference and,
    for classifiers, top-1 agreement. Needs NNCF: pip install 'dask-openvino[quantize]'.

    \b
    Examples:
      dask-openvino quantize model.xml features.parquet -o models/ --inputs f0,f1,f2
      dask-openvino quantize model.xml train.parquet -o models/ --inputs pixels
          --subset-size 500 --holdout test.parquet
    """  # noqa: D301  (click's no-rewrap marker is a literal backspace)
    from dask_openvino.quantize import fidelity_report
    from dask_openvino.quantize import quantize as quantize_model

    columns = _parse_inputs(inputs)
    try:
        spec = quantize_model(
            model,
            _read(calibration, _format_of(calibration, "auto"), None),
            inputs=columns,
            subset_size=subset_size,
            preset=preset,
            output_dir=output_dir,
            model_type="transformer" if transformer else None,
        )
        _print_spec(spec)
        if holdout is not None:
            rows = _read(holdout, _format_of(holdout, "auto"), None).head(holdout_rows, npartitions=-1)
            click.echo(f"INT8 against {model}:")
            click.echo(str(fidelity_report(model, spec, rows, inputs=columns)))
    except (DaskOpenVINOError, ValueError) as err:
        raise click.ClickException(f"{type(err).__name__}: {err}") from err
