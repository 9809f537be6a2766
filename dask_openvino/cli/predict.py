"""`dask-openvino predict`: score a table on a cluster and write one file per partition.

The command reads Parquet or CSV with [`read_table`][dask_openvino.cli.tables.read_table],
applies `ddf.ov.predict` ([`build_scoring`][dask_openvino.cli.predict.build_scoring]),
checks the output ([`check_output`][dask_openvino.output.check_output]) before a
cluster starts, and writes one part per partition with a live progress bar
([`write_scored`][dask_openvino.output.write_scored]): atomically, renamed into
place once every part is written, and resumable with `--resume`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal

import click
import dask.dataframe as dd
import fsspec
from distributed import Client
from rich.console import Console
from rich.table import Table

import dask_openvino
from dask_openvino.cli.errors import cli_errors
from dask_openvino.cli.params import (
    ConfigParam,
    LayoutParam,
    NamesParam,
    cluster_options,
    inputs_option,
    per_input_option,
)
from dask_openvino.cli.processing import LabelsParam, PostprocessParam, Preprocess, PreprocessParam
from dask_openvino.cli.tables import Format, format_of, read_table
from dask_openvino.cluster import ClusterOptions, connect
from dask_openvino.images import IMAGE_EXTENSIONS, list_images
from dask_openvino.output import check_output, write_scored
from dask_openvino.plan import InputsArg
from dask_openvino.plugin import WarmUp
from dask_openvino.policy import PRECISIONS
from dask_openvino.postprocessing import Postprocessor
from dask_openvino.preprocessing import ChainedPreprocessing, ImageBytesToTensor, ImageRead
from dask_openvino.progress import Completed
from dask_openvino.storage import absolute
from dask_openvino.versions import check_versions

__all__ = ["PredictJob", "build_scoring", "output_options", "predict_command"]


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
        Output path or URI: a directory of part files, or one file (see `single_file`).
    inputs : None, str, list or dict
        As `.ov.predict(inputs=...)`.
    batch_size : int or None
        As `.ov.predict(batch_size=...)`.
    keep_input : bool
        As `.ov.predict(keep_input=...)`.
    output_names : list of str or None
        As `.ov.predict(output_names=...)`.
    device : str
        OpenVINO device.
    config : dict or None
        OpenVINO compile properties.
    precision : str or None
        As `.ov.predict(precision=...)`; None for Dask's `openvino.precision` setting.
    input_format : {"parquet", "csv", "images"}
        The input's format; "images" for a folder or glob of image files.
    output_format : {"parquet", "csv"}
        The output's file format.
    partitions : int or None
        Repartition the input into this many partitions.
    overwrite : bool
        Replace an existing output (only a previous output).
    resume : bool
        Keep the parts an interrupted run of the same job wrote; score the rest.
    single_file : bool or None
        One file, or a directory of parts; None decides by the output's name.
    preprocess, postprocess, errors, input_layout
        As `.ov.predict(preprocess=..., postprocess=..., errors=..., input_layout=...)`.

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
    output_names: list[str] | None = None
    device: str = "CPU"
    config: Mapping[str, str] | None = None
    precision: str | None = None
    input_format: Format | Literal["images"] = "parquet"
    output_format: Format = "parquet"
    partitions: int | None = None
    overwrite: bool = False
    resume: bool = False
    single_file: bool | None = None
    preprocess: Preprocess | None = None
    postprocess: Postprocessor | Mapping[str, Postprocessor] | None = None
    errors: Literal["raise", "null"] = "raise"
    input_layout: str | Mapping[str, str] | None = None


def build_scoring(job: PredictJob) -> dd.DataFrame:
    """Read `job.input` lazily and apply `.ov.predict`; check everything that `meta` shows.

    Column and model problems therefore surface here, before any cluster starts.

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
        If the input cannot be read.

    Examples
    --------
    >>> scored = build_scoring(PredictJob("model.xml", "features.parquet", "scored.parquet"))  # doctest: +SKIP
    >>> list(scored.columns)  # doctest: +SKIP
    ['f0', 'f1', 'f2', 'prediction']
    """
    frame, job = _read_input(job)
    scored: dd.DataFrame = frame.ov.predict(
        job.model,
        inputs=job.inputs,
        batch_size=job.batch_size,
        output_names=job.output_names,
        keep_input=job.keep_input,
        config=job.config,
        device=job.device,
        precision=job.precision,
        preprocess=job.preprocess,
        postprocess=job.postprocess,
        errors=job.errors,
        input_layout=job.input_layout,
    )
    return scored


def _input_format(path: str, given: str, preprocess: Preprocess | None) -> Format | Literal["images"]:
    """`--input-format`, where auto with an image pipeline means images for a glob or folder of image files."""
    if given == "images":
        return "images"
    if given != "auto" or not isinstance(preprocess, ChainedPreprocessing) or format_of(path, given) == "csv":
        return format_of(path, given)
    if path.rstrip("/").lower().endswith(IMAGE_EXTENSIONS):
        return "images"
    try:
        fs, root = fsspec.core.url_to_fs(path)
        listed = fs.glob(root) if any(c in root for c in "*?[") else fs.find(root) if fs.isdir(root) else []
        names = [name.lower() for name in listed]
    except (ImportError, OSError):
        return format_of(path, given)  # reading the table reports why
    holds_images = any(name.endswith(IMAGE_EXTENSIONS) for name in names)
    return "images" if holds_images and not any(name.endswith(".parquet") for name in names) else "parquet"


def _read_input(job: PredictJob) -> tuple[dd.DataFrame, PredictJob]:
    """Read `job.input`: a table, or image files as `path` (and `folder`, from label folders) read by the pipeline."""
    if job.input_format != "images":
        return read_table(job.input, job.input_format, job.partitions), job
    if not isinstance(job.preprocess, ChainedPreprocessing):
        raise click.UsageError(f"INPUT {job.input} holds image files: score them with --preprocess image[:OPTIONS]")
    files = list_images(job.input)
    count = -(-len(files.paths) // job.partitions) if job.partitions else None
    frame = files.frame(labels="folder" if files.in_label_folders else False, partition_size=count)
    # The predictions' own `label` column (topk, argmax) must not clash with the folder's.
    frame = frame.rename(columns={"label": "folder"})
    preprocess = job.preprocess
    if isinstance(preprocess.steps[0], ImageBytesToTensor):
        preprocess = ChainedPreprocessing((ImageRead(), *preprocess.steps[1:]), backend=preprocess.backend)
    return frame, replace(job, preprocess=preprocess, inputs="path" if job.inputs is None else job.inputs)


def output_options(job: PredictJob) -> dict[str, Any]:
    """Return the keyword arguments of [`write_scored`][dask_openvino.output.write_scored] for `job`.

    The input is protected (the output may not be, contain or lie inside it) and
    recorded with its format and repartitioning, so `--resume` refuses another input.

    Parameters
    ----------
    job : PredictJob
        What to score.

    Returns
    -------
    dict

    Examples
    --------
    >>> output_options(PredictJob("model.xml", "features.parquet", "scored.parquet"))["protect"]
    ('features.parquet',)
    """
    return {
        "format": job.output_format,
        "single_file": job.single_file,
        "overwrite": job.overwrite,
        "resume": job.resume,
        "protect": (job.input,),
        "record": {"input": job.input, "input_format": job.input_format, "repartition": job.partitions},
    }


def _summary(done: Completed[Any], precisions: list[str]) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_row("rows scored", f"{done.rows:,}")
    table.add_row("partitions", f"{done.partitions:,}")
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


@contextmanager
def _job_start(client: Client, job: PredictJob, warmup: bool, console: Console) -> Iterator[None]:
    """Check the cluster's versions and, with ``warmup``, compile the model on every worker for the job's length."""
    check_versions(client)
    if not warmup:
        yield
        return
    plugin = WarmUp(
        job.model,
        inputs=job.inputs,
        batch_size=job.batch_size,
        config=job.config,
        device=job.device,
        preprocess=job.preprocess,
        precision=job.precision,
    )
    started = time.perf_counter()
    try:
        warmed = len(client.register_plugin(plugin))
        seconds = time.perf_counter() - started
        console.print(f"Warm-up: compiled on {warmed} worker{'' if warmed == 1 else 's'} in {seconds:.1f} s")
        yield
    finally:
        # Also after a failed warm-up: a long-lived cluster should not go on compiling
        # this model on every worker that joins.
        client.unregister_worker_plugin(plugin.name)  # type: ignore[no-untyped-call]


@click.command("predict")
@click.argument("model")
@click.argument("input_path", metavar="INPUT")
@click.option(
    "-o",
    "--output",
    required=True,
    help="Output path or URI: a directory of part files, or one file (see --single-file).",
)
@inputs_option(
    help="Columns feeding the model, in input order (repeat or comma-separate), or NAME=COL pairs "
    "(NAME=COL1+COL2 stacks columns). Default: columns named like the model's inputs."
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
    type=click.Choice(["auto", "parquet", "csv", "images"]),
    default="auto",
    show_default=True,
    help="auto: CSV if INPUT ends with .csv/.tsv (optionally compressed); with --preprocess image, images if "
    "INPUT is a glob of image files or a folder of them without Parquet files; else Parquet.",
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
@per_input_option(
    "--input-layout",
    LayoutParam(),
    metavar="[NAME=]LAYOUT",
    help="Layout of the tensor columns when it is not the model's, e.g. NHWC (channels last) into an NCHW "
    "model: the transpose is added to the model. Repeat NAME=LAYOUT per model input.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace OUTPUT if it exists; only a previous output (a directory holding other files is refused).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Keep the parts that an interrupted run of the same job (model, options, input) wrote and score the "
    "rest; a job run with --resume also keeps its parts when it fails or is stopped.",
)
@click.option(
    "--single-file/--directory",
    default=None,
    help="Write one file, or a directory of part files [default: one file when OUTPUT ends in .csv or .tsv, "
    "optionally compressed (.gz, .bz2, .xz, .zst); a directory otherwise].",
)
@click.option(
    "--warmup/--no-warmup",
    default=True,
    show_default=True,
    help="Compile the model on every worker (and on workers joining later) before the first partition.",
)
@cluster_options
def predict_command(
    model: str,
    input_path: str,
    output: str,
    inputs: InputsArg,
    output_names: list[str] | None,
    batch_size: int | None,
    keep_input: bool,
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
    input_layout: str | dict[str, str] | None,
    overwrite: bool,
    resume: bool,
    single_file: bool | None,
    warmup: bool,
    cluster: ClusterOptions,
) -> None:
    """Score a Parquet or CSV table with an OpenVINO model and write the result.

    MODEL is an OpenVINO IR .xml (its .bin beside it). INPUT is a Parquet file,
    directory or glob, or CSV file(s); local paths or fsspec URIs (s3://, gs://,
    ...; workers must be able to read and write them), or with --preprocess image a
    folder or glob of image files, scored from a `path` column (label folders,
    INPUT/<label>/*.jpg, add a `folder` column). OUTPUT is a directory of
    part files (part.00000.parquet, ...) or, for a .csv/.tsv name, one file;
    parts are written under a hidden temporary name and renamed when every
    partition is done: a failed or interrupted job leaves no OUTPUT. With
    --resume, a rerun scores only the partitions not yet written.

    Without --scheduler a local cluster sized to this machine runs the job.
    Before the first partition, the command checks that the scheduler and every
    worker run this dask-openvino and OpenVINO release, and compiles the model on
    every worker, and on workers that join during the job (--no-warmup: each worker
    compiles on its first partition).
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
      dask-openvino predict model.xml features/ -o scored.parquet --resume
      dask-openvino predict model.xml s3://bucket/features/ -o s3://bucket/scored/
          --scheduler tcp://10.0.0.5:8786 --batch-size 256
      dask-openvino predict two_inputs.xml t.parquet -o out.parquet
          --inputs ids=tokens --inputs mask=attention
      dask-openvino predict resnet50.xml photos.parquet -o labels.parquet --inputs image=jpeg
          --preprocess image:resize=256,crop=224,imagenet --postprocess topk:5,softmax
          --labels classes.txt
      dask-openvino predict resnet50.xml photos/ -o labels.parquet
          --preprocess image:resize=256,crop=224,imagenet --postprocess topk:5
      dask-openvino predict minilm.xml docs.parquet -o emb.parquet --inputs input_ids=text
          --preprocess sentence-embedding:minilm/tokenizer.json
      dask-openvino predict model.xml t.parquet -o out.parquet --workers 2
          --threads-per-worker 4 --config PERFORMANCE_HINT=LATENCY
    """  # noqa: D301  (click's no-rewrap marker is a literal backspace)
    del labels  # already in the postprocessors: --postprocess reads it
    console = Console()
    job = PredictJob(
        model=model,
        input=input_path,
        output=output,
        inputs=inputs,
        batch_size=batch_size,
        keep_input=keep_input,
        output_names=output_names,
        device=device,
        config=config,
        precision=precision,
        input_format=_input_format(input_path, input_format, preprocess),
        output_format=format_of(output, output_format),
        partitions=partitions,
        overwrite=overwrite,
        resume=resume,
        single_file=single_file,
        preprocess=preprocess,
        postprocess=postprocess,
        errors=errors,
        input_layout=input_layout,
    )
    options = output_options(job)
    try:
        with cli_errors():
            check_output(job.output, **options)
            scored = build_scoring(job)
            check_output(job.output, scored, **options)
            with connect(cluster, console) as client, _job_start(client, job, warmup, console):
                # SIGTERM, like Ctrl-C, raises KeyboardInterrupt here
                written = write_scored(scored, job.output, client=client, console=console, **options)
                precisions = _worker_precisions(client, absolute(job.model))
    except KeyboardInterrupt:
        kept = "the parts written so far are kept for --resume" if job.resume else "no output was written"
        console.print(f"[red]Interrupted[/red]: the job was cancelled and {kept}.")
        raise SystemExit(130) from None
    if written.resumed:
        console.print(f"Resumed: {written.resumed:,} of {written.resumed + written.scoring.partitions:,} parts kept")
    console.print(_summary(written.scoring, precisions))
    console.print(f"Output: {job.output}", soft_wrap=True)
