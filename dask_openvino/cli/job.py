"""What `dask-openvino predict` does, parsed from its command line: a job, and its lazy scoring graph.

[`PredictJob`][dask_openvino.cli.job.PredictJob] holds the options;
[`build_scoring`][dask_openvino.cli.job.build_scoring] reads the input
([`read_input`][dask_openvino.cli.inputs.read_input]) and applies `ddf.ov.predict`,
so that column and model problems surface before any cluster starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import dask.dataframe as dd

from dask_openvino.cli.inputs import InputFormat, read_input, reading_pipeline
from dask_openvino.cli.processing import Preprocess
from dask_openvino.cli.selection import expand_inputs, kept_columns, read_columns
from dask_openvino.cli.tables import Format
from dask_openvino.plan import InputsArg, build_plan
from dask_openvino.plugin import WarmUp
from dask_openvino.postprocessing import Postprocessor
from dask_openvino.spec import resolve_model

__all__ = ["PredictJob", "build_scoring", "output_options", "scored_job", "warm_up"]


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
    keep: tuple[str, ...] | None = None
    output_names: list[str] | None = None
    device: str = "CPU"
    config: Mapping[str, str] | None = None
    precision: str | None = None
    input_format: InputFormat = "parquet"
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
        If the input cannot be read.

    Examples
    --------
    >>> scored = build_scoring(PredictJob("model.xml", "features.parquet", "scored.parquet"))  # doctest: +SKIP
    >>> list(scored.columns)  # doctest: +SKIP
    ['f0', 'f1', 'f2', 'prediction']
    """
    job = scored_job(job)
    frame = read_input(job.input, job.input_format, job.partitions)
    columns = [str(column) for column in frame.columns]
    spec = resolve_model(job.model, device=job.device, config=job.config, precision=job.precision)
    options: dict[str, Any] = {
        "inputs": expand_inputs(job.inputs, columns),
        "batch_size": job.batch_size,
        "output_names": job.output_names,
        "preprocess": job.preprocess,
        "postprocess": job.postprocess,
        "errors": job.errors,
        "input_layout": job.input_layout,
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
    return scored


def scored_job(job: PredictJob) -> PredictJob:
    """Return `job` as it is scored: image files are read by the pipeline, from a `path` column.

    Parameters
    ----------
    job : PredictJob
        What to score.

    Returns
    -------
    PredictJob
        `job`, or for image files a copy whose pipeline reads paths.

    Raises
    ------
    click.UsageError
        If image files come without an image pipeline.

    Examples
    --------
    >>> job = PredictJob("model.xml", "photos/", "labels.parquet", input_format="images")  # doctest: +SKIP
    >>> scored_job(job).inputs  # doctest: +SKIP
    'path'
    """
    if job.input_format != "images":
        return job
    inputs = "path" if job.inputs is None else job.inputs
    return replace(job, preprocess=reading_pipeline(job.input, job.preprocess), inputs=inputs)


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


def warm_up(job: PredictJob) -> WarmUp:
    """Return the worker plugin that compiles `job`'s model on every worker, as the job's partitions will use it.

    Parameters
    ----------
    job : PredictJob
        What to score.

    Returns
    -------
    WarmUp

    Examples
    --------
    >>> client.register_plugin(warm_up(PredictJob("model.xml", "t.parquet", "o.parquet")))  # doctest: +SKIP
    """
    job = scored_job(job)
    return WarmUp(
        job.model,
        inputs=job.inputs,
        batch_size=job.batch_size,
        config=job.config,
        device=job.device,
        preprocess=job.preprocess,
        precision=job.precision,
        input_layout=job.input_layout,
    )
