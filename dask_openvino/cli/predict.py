"""`dask-openvino predict`: score a table on a cluster and write one file per partition.

The command reads Parquet or CSV with [`read_table`][dask_openvino.cli.tables.read_table],
applies `ddf.ov.predict` ([`build_scoring`][dask_openvino.cli.predict.build_scoring]),
and computes one [`write_partition`][dask_openvino.cli.tables.write_partition] task
per partition on the cluster with a live progress bar
([`write_scored`][dask_openvino.cli.predict.write_scored]), into a
[`StagedOutput`][dask_openvino.cli.tables.StagedOutput] that is renamed to the
output path once every partition is written.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import click
import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
from distributed import Client
from rich.console import Console
from rich.table import Table

import dask_openvino
from dask_openvino.cli.errors import cli_errors
from dask_openvino.cli.logs import verbosity_option, worker_logging
from dask_openvino.cli.params import ConfigParam, NamesParam, cluster_options, inputs_option
from dask_openvino.cli.processing import LabelsParam, PostprocessParam, Preprocess, PreprocessParam
from dask_openvino.cli.selection import expand_inputs, kept_columns, read_columns
from dask_openvino.cli.tables import Format, StagedOutput, format_of, read_table, write_partition
from dask_openvino.cluster import ClusterOptions, connect
from dask_openvino.plan import ERROR_COLUMN, InputsArg, build_plan
from dask_openvino.policy import PRECISIONS
from dask_openvino.postprocessing import Postprocessor
from dask_openvino.progress import Completed, track
from dask_openvino.spec import resolve_model
from dask_openvino.storage import absolute

__all__ = ["PredictJob", "build_scoring", "predict_command", "write_scored"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictJob:
    """Everything `dask-openvino predict` needs, parsed from the command line.

    Attributes
    ----------
    model : str
        IR `.xml` path or URI.
    input : str
        Input path, glob or URI.
    output : str
        Output directory path or URI.
    inputs : None, str, list or dict
        As `.ov.predict(inputs=...)`; column names may be glob patterns (`f*`),
        matched in the table's column order.
    batch_size : int or None
        As `.ov.predict(batch_size=...)`.
    keep_input : bool
        As `.ov.predict(keep_input=...)`.
    keep : tuple of str or None
        Keep only these input columns (names or glob patterns) beside the
        predictions; None follows `keep_input`.
    output_names : list of str or None
        As `.ov.predict(output_names=...)`.
    device : str
        OpenVINO device.
    config : dict or None
        OpenVINO compile properties.
    precision : str or None
        As `.ov.predict(precision=...)`; None for Dask's `openvino.precision` setting.
    input_format, output_format : {"parquet", "csv"}
        File formats.
    partitions : int or None
        Repartition the input into this many partitions.
    overwrite : bool
        Replace an existing output.
    preprocess, postprocess, errors
        As `.ov.predict(preprocess=..., postprocess=..., errors=...)`.

    Examples
    --------
    >>> job = PredictJob("model.xml", "features.parquet", "scored.parquet", inputs=["f0", "f1", "f2"])
    >>> job.output_format
    'parquet'
    """

    model: str
    input: str
    output: str
    inputs: InputsArg = None
    batch_size: int | None = None
    keep_input: bool = True
    keep: tuple[str, ...] | None = None
    output_names: list[str] | None = None
    device: str = "CPU"
    config: Mapping[str, str] | None = None
    precision: str | None = None
    input_format: Format = "parquet"
    output_format: Format = "parquet"
    partitions: int | None = None
    overwrite: bool = False
    preprocess: Preprocess | None = None
    postprocess: Postprocessor | Mapping[str, Postprocessor] | None = None
    errors: Literal["raise", "null"] = "raise"


def build_scoring(job: PredictJob) -> dd.DataFrame:
    """Read `job.input` lazily and apply `.ov.predict`; check everything that `meta` shows.

    Column and model problems therefore surface here, before any cluster starts.
    Only the columns the job uses are read: those feeding the model, and the kept ones.

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

    Examples
    --------
    >>> scored = build_scoring(PredictJob("model.xml", "features.parquet", "scored.parquet"))  # doctest: +SKIP
    >>> list(scored.columns)  # doctest: +SKIP
    ['f0', 'f1', 'f2', 'prediction']
    """
    frame = read_table(job.input, job.input_format, job.partitions)
    columns = [str(column) for column in frame.columns]
    spec = resolve_model(job.model, device=job.device, config=job.config, precision=job.precision)
    options: dict[str, Any] = {
        "inputs": expand_inputs(job.inputs, columns),
        "batch_size": job.batch_size,
        "output_names": job.output_names,
        "preprocess": job.preprocess,
        "postprocess": job.postprocess,
        "errors": job.errors,
    }
    keep = kept_columns(job.keep, columns) if job.keep is not None else None
    keep_input = job.keep_input or keep is not None
    scored: dd.DataFrame = frame.ov.predict(spec, keep_input=keep_input, **options)
    if keep is not None or not job.keep_input:
        # Dask pushes this projection into the reader: the other columns are never read. It
        # also joins partitions whose projected bytes are few; inference costs what it costs
        # whatever the columns, so the partitions (every worker's share) win over the bytes.
        plan = build_plan(spec, frame._meta, keep_input=False, **options)
        projected = frame[read_columns(plan, keep or (), columns)].ov.predict(spec, keep_input=keep_input, **options)
        if projected.optimize().npartitions == scored.optimize().npartitions:
            scored = projected
    if keep is not None:
        made = [column for column in scored.columns if column not in columns]
        scored = scored[[*keep, *made]]
    if job.output_format == "csv":
        _check_csv_can_hold(scored._meta)
    return scored


def _check_csv_can_hold(meta: pd.DataFrame) -> None:
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


def write_scored(
    scored: dd.DataFrame, out: StagedOutput, fmt: Format, client: Client, console: Console
) -> Completed[pd.Series]:
    """Compute `scored` on `client`, one file per partition into `out.staging`, with a progress bar.

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

    Examples
    --------
    >>> with StagedOutput("scored.parquet") as out, connect(ClusterOptions(), console) as client:  # doctest: +SKIP
    ...     done = write_scored(scored, out, "parquet", client, console)
    ...     out.commit()
    """
    counts = scored.map_partitions(  # type: ignore[no-untyped-call]
        write_partition, out.fs, out.staging, fmt, meta=pd.Series(dtype="int64", name="rows")
    )
    futures = client.compute(counts.to_delayed())  # type: ignore[no-untyped-call]
    return track(futures, rows=lambda rows: int(rows.iloc[0]), description="scoring", console=console)


def _failed_rows(done: Completed[pd.Series]) -> int:
    return sum(int(counts.get("failed", 0)) for counts in done.results)


def _summary(done: Completed[pd.Series], precisions: list[str], scored: dd.DataFrame) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2))
    failed = _failed_rows(done)
    table.add_row("rows scored", f"{done.rows - failed:,}")
    if ERROR_COLUMN in scored.columns:
        table.add_row("rows failed", f"{failed:,}" + (f" (reasons in column {ERROR_COLUMN})" if failed else ""))
    table.add_row("partitions", f"{done.partitions:,}")
    if done.recomputed:
        table.add_row("recomputed", f"{done.recomputed:,} partitions, after a worker was lost")
    table.add_row("time", f"{done.seconds:.2f} s")
    table.add_row("throughput", f"{done.rows_per_second:,.0f} rows/s")
    for line in precisions:
        table.add_row("precision", line)
    return table


def _worker_precisions(client: Client, model: str) -> list[str]:
    """Return what the workers compiled ``model`` with: one line per distinct precision and reason."""
    infos = client.run(dask_openvino.cache_info).values()
    seen = {
        f"{engine.get('INFERENCE_PRECISION_HINT', '?')} ({engine.get('precision_reason', '')})"
        for info in infos
        for engine in info.engines
        if engine.get("model") == model
    }
    return sorted(seen)


@click.command("predict")
@click.argument("model")
@click.argument("input_path", metavar="INPUT")
@click.option("-o", "--output", required=True, help="Output directory path or URI (one file per partition).")
@inputs_option(
    help="Columns feeding the model, in input order (repeat or comma-separate; patterns such as 'f*' match "
    "columns in the table's order), or NAME=COL pairs (NAME=COL1+COL2 or NAME='f*' stacks columns). "
    "Default: the model's input names, as columns."
)
@click.option(
    "--output-names",
    multiple=True,
    type=NamesParam(),
    callback=NamesParam.combine,
    metavar="NAMES",
    help="Result column names, in output order.",
)
@click.option("--batch-size", type=click.IntRange(min=1), help="Rows per inference [default: from the model].")
@click.option(
    "--keep-input/--no-keep-input", default=True, show_default=True, help="Keep the input columns in the output."
)
@click.option(
    "--keep",
    multiple=True,
    type=NamesParam(),
    callback=NamesParam.combine,
    metavar="COLS",
    help="Keep only these input columns (names or patterns such as 'id*'), e.g. --keep id,label.",
)
@click.option("--device", default="CPU", show_default=True, help="OpenVINO device.")
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    help="Inference precision: auto (each worker's fastest, e.g. bf16 with AMX), or f32 for the framework's "
    "numbers exactly [default: the openvino.precision Dask setting, auto].",
)
@click.option(
    "--config",
    multiple=True,
    type=ConfigParam(),
    callback=ConfigParam.combine,
    metavar="KEY=VALUE",
    help="OpenVINO compile property (repeatable).",
)
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
    type=PreprocessParam(),
    metavar="KIND[:OPTIONS]",
    help="Turn an image or text column into the model input on the workers (see Preprocessing above).",
)
@click.option(
    "--postprocess",
    multiple=True,
    type=PostprocessParam(),
    callback=PostprocessParam.combine,
    metavar="[OUTPUT=]KIND[:OPTIONS]",
    help="Turn an output into label / probability columns (see Postprocessing above).",
)
# Eager, so that --postprocess finds the class names already read, wherever --labels stands.
@click.option(
    "--labels",
    type=LabelsParam(),
    is_eager=True,
    metavar="FILE",
    help="Class names, one per line, for argmax and topk.",
)
@click.option(
    "--errors",
    type=click.Choice(["raise", "null"]),
    default="raise",
    show_default=True,
    help="A row that cannot be preprocessed or scored fails the job (raise), or gets null outputs and its "
    "reason in a prediction_error column (null).",
)
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@cluster_options
@verbosity_option
def predict_command(
    model: str,
    input_path: str,
    output: str,
    inputs: InputsArg,
    output_names: list[str] | None,
    batch_size: int | None,
    keep_input: bool,
    keep: list[str] | None,
    device: str,
    precision: str | None,
    config: dict[str, str] | None,
    partitions: int | None,
    input_format: str,
    output_format: str,
    preprocess: Preprocess | None,
    postprocess: Postprocessor | dict[str, Postprocessor] | None,
    labels: list[str] | None,
    errors: Literal["raise", "null"],
    overwrite: bool,
    cluster: ClusterOptions,
    verbosity: int,
) -> None:
    """Score a Parquet or CSV table with an OpenVINO model and write the result.

    MODEL is an OpenVINO IR .xml (its .bin beside it). INPUT is a Parquet file,
    directory or glob, or CSV file(s); local paths or fsspec URIs (s3://, gs://,
    ...; workers must be able to read and write them). OUTPUT is a directory of
    part files, written under a hidden temporary name and renamed when every
    partition is done: a failed or interrupted job leaves no OUTPUT.

    Without --scheduler a local cluster sized to this machine runs the job.
    Each model output becomes a column ("prediction" for a single output, as
    `dask-openvino info` says; --output-names renames). A Parquet file is split
    by its row groups, so every worker gets work. With --errors null the summary
    counts scored and failed rows apart.

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
      dask-openvino predict model.xml features.parquet -o scored.parquet --inputs 'f*' --keep id -v
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
    del labels  # already in the postprocessors: --postprocess reads it
    console = Console(quiet=verbosity < 0)
    console.print(f"Reading {input_path} and {model}…", soft_wrap=True)
    job = PredictJob(
        model=model,
        input=input_path,
        output=output,
        inputs=inputs,
        batch_size=batch_size,
        keep_input=keep_input,
        keep=tuple(keep) if keep is not None else None,
        output_names=output_names,
        device=device,
        config=config,
        precision=precision,
        input_format=format_of(input_path, input_format),
        output_format=format_of(output, output_format),
        partitions=partitions,
        overwrite=overwrite,
        preprocess=preprocess,
        postprocess=postprocess,
        errors=errors,
    )
    try:
        with cli_errors():
            scored = build_scoring(job)
            # The cluster closes before the staging directory is removed on failure, so no
            # worker of a local cluster is still writing into it.
            with StagedOutput(job.output, overwrite=job.overwrite) as out:
                console.print("Starting a local cluster…" if cluster.scheduler is None else "Connecting…")
                with (
                    connect(cluster, console) as client,
                    worker_logging(client, logging.getLogger("dask_openvino").level),
                ):
                    done = write_scored(scored, out, job.output_format, client, console)
                    precisions = _worker_precisions(client, absolute(job.model))
                out.commit()
    except KeyboardInterrupt:
        console.print("[red]Interrupted[/red]: the job was cancelled and no output was written.")
        raise SystemExit(130) from None
    failed = _failed_rows(done)
    if failed:
        logger.warning(
            "%s of %s rows failed; their reasons are in column %s", f"{failed:,}", f"{done.rows:,}", ERROR_COLUMN
        )
    summary = Console()
    summary.print(_summary(done, precisions, scored))
    summary.print(f"Output: {job.output}", soft_wrap=True)
