"""`dask-openvino predict`: score a table on a cluster and write one file per partition.

The command reads a table or image files ([`read_input`][dask_openvino.cli.inputs.read_input]),
applies `ddf.ov.predict` ([`build_scoring`][dask_openvino.cli.job.build_scoring]),
checks the output ([`check_output`][dask_openvino.output.check_output]) before a
cluster starts, and writes one part per partition with a live progress bar
([`write_scored`][dask_openvino.output.write_scored]): atomically, renamed into
place once every part is written, and resumable with `--resume`.
"""

from __future__ import annotations

import logging
from typing import Literal

import click
from rich.console import Console

from dask_openvino.cli.errors import cli_errors
from dask_openvino.cli.inputs import input_format
from dask_openvino.cli.job import PredictJob, build_scoring, output_options, warm_up
from dask_openvino.cli.logs import task_name, verbosity_option, worker_logging
from dask_openvino.cli.params import (
    ConfigParam,
    LayoutParam,
    NamesParam,
    cluster_options,
    inputs_option,
    per_input_option,
)
from dask_openvino.cli.processing import LabelsParam, PostprocessParam, Preprocess, PreprocessParam
from dask_openvino.cli.run import failed_rows, job_start, summary_table, worker_precisions
from dask_openvino.cli.tables import format_of
from dask_openvino.cluster import ClusterOptions, connect
from dask_openvino.destination import staged_output
from dask_openvino.output import check_output, write_scored
from dask_openvino.plan import ERROR_COLUMN, InputsArg
from dask_openvino.policy import PRECISIONS
from dask_openvino.postprocessing import Postprocessor
from dask_openvino.storage import absolute
from dask_openvino.versions import check_versions

__all__ = ["predict_command"]

logger = logging.getLogger(__name__)


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
    "input_format_given",
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
    input_format_given: str,
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
    verbosity: int,
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
        input_format=input_format(input_path, input_format_given, preprocess),
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
            console.print("Starting a local cluster…" if cluster.scheduler is None else "Connecting…")
            with connect(cluster, console) as client:  # SIGTERM, like Ctrl-C, raises KeyboardInterrupt here
                # Before any plugin: a worker of another release may fail to unpickle one, obscurely.
                check_versions(client)
                with (
                    worker_logging(client, logging.getLogger("dask_openvino").level, marker=task_name(scored)),
                    job_start(client, warm_up(job) if warmup else None, console),
                ):
                    written = write_scored(scored, job.output, client=client, console=console, **options)
                    precisions = worker_precisions(client, absolute(job.model))
    except KeyboardInterrupt:
        if job.resume:
            kept = "the parts written so far are kept for --resume"
        elif staged := staged_output(job.output, format=options["format"], single_file=options["single_file"]):
            # Stopped while replacing the output: the old one is back.
            kept = (
                f"{job.output} was not replaced; the new output is complete in {staged}: "
                "--resume --overwrite puts it in place without scoring"
            )
        else:
            kept = "no output was written"
        console.print(f"[red]Interrupted[/red]: the job was cancelled and {kept}.", soft_wrap=True)  # whole paths
        raise SystemExit(130) from None
    done = written.scoring
    failed = failed_rows(done)
    if failed:
        logger.warning(
            "%s of %s rows failed; their reasons are in column %s", f"{failed:,}", f"{done.rows:,}", ERROR_COLUMN
        )
    summary = Console()
    if written.resumed:
        summary.print(f"Resumed: {written.resumed:,} of {written.resumed + done.partitions:,} parts kept")
    summary.print(summary_table(done, precisions, ERROR_COLUMN in scored.columns))
    summary.print(f"Output: {job.output}", soft_wrap=True)
