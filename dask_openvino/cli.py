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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import click
import dask.dataframe as dd
import fsspec
import pandas as pd
import pyarrow as pa
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
            frame.to_parquet(f)
    else:
        with fs.open(path, "w", encoding="utf-8", newline="") as f:
            frame.to_csv(f, index=False)
    return pd.Series([len(frame)], name="rows", dtype="int64")


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
            yield client
        return
    with _workers_ignore_ctrl_c():
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
        yield client


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
    r"""Fast, distributed batch inference over tables with OpenVINO on CPUs.

    \b
    Examples:
      dask-openvino demo
      dask-openvino info model.xml
      dask-openvino predict model.xml features.parquet -o scored.parquet --inputs f0,f1,f2

    Run `dask-openvino COMMAND --help` for each command's options.
    """


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
    overwrite: bool,
    scheduler: str | None,
    workers: int | None,
    threads_per_worker: int | None,
    dashboard_address: str,
) -> None:
    r"""Score a Parquet or CSV table with an OpenVINO model and write the result.

    MODEL is an OpenVINO IR .xml (its .bin beside it). INPUT is a Parquet file,
    directory or glob, or CSV file(s); local paths or fsspec URIs (s3://, gs://,
    ...; workers must be able to read and write them). OUTPUT is a directory of
    part files, written under a hidden temporary name and renamed when every
    partition is done: a failed or interrupted job leaves no OUTPUT.

    Without --scheduler a local cluster sized to this machine runs the job.
    Each model output becomes a column ("prediction" for a single output).

    \b
    Examples:
      dask-openvino predict model.xml features.parquet -o scored.parquet --inputs f0,f1,f2
      dask-openvino predict model.xml 'data/*.csv' -o scored.csv --no-keep-input
      dask-openvino predict model.xml s3://bucket/features/ -o s3://bucket/scored/ \
          --scheduler tcp://10.0.0.5:8786 --batch-size 256
      dask-openvino predict two_inputs.xml t.parquet -o out.parquet --inputs ids=tokens --inputs mask=attention
      dask-openvino predict model.xml t.parquet -o out.parquet --workers 2 --threads-per-worker 4 \
          --config PERFORMANCE_HINT=LATENCY
    """
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
    r"""Show a model's inputs, outputs and content fingerprint.

    MODEL is an OpenVINO IR .xml path or URI. The fingerprint is the hash every
    worker checks before it runs the model (see ModelChangedError).

    \b
    Examples:
      dask-openvino info model.xml
      dask-openvino info s3://bucket/models/model.xml --json
    """
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
    r"""Train, convert and score a real model end to end; nothing is downloaded.

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
    """
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
