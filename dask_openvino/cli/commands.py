"""`dask-openvino info`, `check`, `demo`, `convert` and `quantize`: the commands beside `predict`.

Each is a thin shell over the library: [`ModelSpec`][dask_openvino.ModelSpec],
[`check_precision`][dask_openvino.precision.check_precision],
[`run_demo`][dask_openvino.demo.run_demo], [`convert`][dask_openvino.convert.convert]
and [`quantize`][dask_openvino.quantize.quantize]. A library error becomes a one-line
message and exit status 1.
"""

from __future__ import annotations

import json

import click
from rich.console import Console

from dask_openvino.cli.errors import cli_errors
from dask_openvino.cli.params import (
    LayoutParam,
    ShapeParam,
    ValuesParam,
    cluster_options,
    inputs_option,
    per_input_option,
)
from dask_openvino.cli.selection import expand_inputs
from dask_openvino.cli.tables import format_of, read_table
from dask_openvino.cluster import ClusterOptions
from dask_openvino.convert import convert
from dask_openvino.demo import DemoOptions, run_demo
from dask_openvino.plan import SINGLE_OUTPUT_COLUMN, InputsArg
from dask_openvino.policy import OVERFLOW_FIXES, choose_overflow_fix, cpu_features
from dask_openvino.precision import check_precision
from dask_openvino.quantize import fidelity_report, quantize
from dask_openvino.spec import ModelSpec

__all__ = ["check_command", "convert_command", "demo_command", "info_command", "quantize_command"]


def _print_spec(spec: ModelSpec) -> None:
    click.echo(f"model:       {spec.xml}")
    click.echo(f"weights:     {spec.weights}")
    click.echo(f"fingerprint: {spec.fingerprint}")
    click.echo(str(spec.describe()))


@click.command("info")
@click.argument("model")
@click.option("--weights", help="The .bin file, when it does not sit beside the .xml.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def info_command(model: str, weights: str | None, as_json: bool) -> None:
    """Show a model's inputs, outputs and content fingerprint.

    MODEL is an OpenVINO IR .xml path or URI. The fingerprint is the hash every
    worker checks before it runs the model (see ModelChangedError).

    \b
    Examples:
      dask-openvino info model.xml
      dask-openvino info s3://bucket/models/model.xml --json
    """  # noqa: D301  (click's no-rewrap marker is a literal backspace)
    with cli_errors():
        spec = ModelSpec.from_path(model, weights=weights)
        description = spec.describe()
    if as_json:
        ports = {
            kind: [{"name": p.name, "element_type": p.element_type, "shape": p.shape} for p in group]
            for kind, group in (("inputs", description.inputs), ("outputs", description.outputs))
        }
        click.echo(json.dumps({"xml": spec.xml, "weights": spec.weights, "fingerprint": spec.fingerprint, **ports}))
        return
    _print_spec(spec)
    outputs = description.outputs
    if len(outputs) == 1:
        click.echo(
            f"predict writes output {outputs[0].name} as column {SINGLE_OUTPUT_COLUMN!r} (--output-names renames it)"
        )
    else:
        click.echo("predict writes each output as a column of its name (--output-names renames them)")


@click.command("demo")
@click.option("--rows", type=click.IntRange(min=1000), help="Rows to score [default: 1,000,000; 20,000 with --quick].")
@click.option("--quick", is_flag=True, help="A small, fast run (for tests and a first look).")
@click.option("--int8/--no-int8", default=True, show_default=True, help="Also quantize to INT8 and score with it.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    help="Where to keep the model and data [default: a temporary directory, removed at the end].",
)
@cluster_options
def demo_command(rows: int | None, quick: bool, int8: bool, workdir: str | None, cluster: ClusterOptions) -> None:
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
    console = Console()
    options = DemoOptions(
        rows=rows if rows is not None else (20_000 if quick else 1_000_000),
        quick=quick,
        int8=int8,
        workdir=workdir,
    )
    try:
        with cli_errors():
            run_demo(options, cluster, console)
    except KeyboardInterrupt:
        console.print("[red]Interrupted[/red].")
        raise SystemExit(130) from None


@click.command("convert")
@click.argument("source")
@click.option("-o", "--output-dir", required=True, help="Directory for NAME.xml and NAME.bin (created if missing).")
@click.option("--name", help="File stem of the IR [default: SOURCE's stem].")
@per_input_option(
    "--input-shape", ShapeParam(), metavar="[NAME=]DIMS", help="New input shape, e.g. 1,3,224,224 or ?,64."
)
@per_input_option("--layout", LayoutParam(), metavar="[NAME=]LAYOUT", help="Input layout, e.g. NCHW, NHWC or NC.")
@per_input_option(
    "--mean-values", ValuesParam(), metavar="[NAME=]VALUES", help="Subtracted from the input: one value or R/G/B."
)
@per_input_option(
    "--scale-values",
    ValuesParam(),
    metavar="[NAME=]VALUES",
    help="The input minus the mean is divided by it: one value or R/G/B.",
)
@click.option("--reverse-input-channels", is_flag=True, help="Reverse the channel order (BGR <-> RGB) first.")
@click.option("--compress-to-fp16", is_flag=True, help="Store float weights as FP16 (half the size).")
def convert_command(
    source: str,
    output_dir: str,
    name: str | None,
    input_shape: list[int | None] | dict[str, list[int | None]] | None,
    layout: str | dict[str, str] | None,
    mean_values: float | list[float] | dict[str, float | list[float]] | None,
    scale_values: float | list[float] | dict[str, float | list[float]] | None,
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
    with cli_errors(ValueError):
        spec = convert(
            source,
            output_dir,
            input_shape=input_shape,
            layout=layout,
            mean_values=mean_values,
            scale_values=scale_values,
            reverse_input_channels=reverse_input_channels,
            compress_to_fp16=compress_to_fp16,
            name=name,
        )
    _print_spec(spec)


@click.command("quantize")
@click.argument("model")
@click.argument("calibration")
@click.option("-o", "--output-dir", required=True, help="Directory for the INT8 IR (MODEL's stem + '-int8').")
@inputs_option(help="Columns feeding the model (names or patterns such as 'f*'), as for predict.")
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
    "--overflow-fix",
    type=click.Choice(OVERFLOW_FIXES),
    help="Layers with 7-bit weights (NNCF's overflow fix) [default: 'enable' on CPUs without VNNI or AMX, "
    "else 'first_layer_only'].",
)
@click.option(
    "--holdout",
    metavar="DATA",
    help="Parquet or CSV rows (not the calibration rows) to compare INT8 with the original on.",
)
@click.option("--holdout-rows", type=click.IntRange(min=1), default=2000, show_default=True, help="Holdout rows used.")
def quantize_command(
    model: str,
    calibration: str,
    output_dir: str,
    inputs: InputsArg,
    subset_size: int,
    preset: str,
    transformer: bool,
    overflow_fix: str | None,
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
    with cli_errors(ValueError):
        frame = read_table(calibration, format_of(calibration, "auto"))
        inputs = expand_inputs(inputs, [str(column) for column in frame.columns])
        overflow_fix, reason = choose_overflow_fix(overflow_fix, cpu_features())
        spec = quantize(
            model,
            frame,
            inputs=inputs,
            subset_size=subset_size,
            preset=preset,
            output_dir=output_dir,
            model_type="transformer" if transformer else None,
            overflow_fix=overflow_fix,
        )
        _print_spec(spec)
        click.echo(f"overflow fix: {overflow_fix} ({reason})")
        if holdout is not None:
            rows = read_table(holdout, format_of(holdout, "auto")).head(holdout_rows, npartitions=-1)
            click.echo(f"INT8 against {model}:")
            click.echo(str(fidelity_report(model, spec, rows, inputs=inputs)))


@click.command("check")
@click.argument("model")
@click.argument("data")
@inputs_option(help="Columns feeding the model (names or patterns such as 'f*'), as for predict.")
@click.option("--rows", type=click.IntRange(min=1), default=1000, show_default=True, help="Rows sampled from DATA.")
@click.option("--int8", "int8", metavar="INT8_XML", help="An INT8 IR of the same model, to compare too.")
@click.option(
    "--quantize", "quantize_sample", is_flag=True, help="Without --int8: quantize MODEL on the sample (needs NNCF)."
)
@click.option("--seconds", type=click.FloatRange(min=0.1), default=1.0, show_default=True, help="Timing per precision.")
def check_command(
    model: str, data: str, inputs: InputsArg, rows: int, int8: str | None, quantize_sample: bool, seconds: float
) -> None:
    """Show what each precision costs in accuracy and buys in speed, on your own rows.

    MODEL is a float OpenVINO IR .xml; DATA is Parquet or CSV data like the data you
    will score. --rows rows are sampled and scored in f32, in the fast float
    precision this CPU has (bf16, else f16) and, with --int8 or --quantize, in
    INT8. The table gives rows/s on this machine, the largest absolute difference
    from f32 and, for outputs with a vector per row, top-1 agreement with f32;
    the last lines say what precision=auto picks here, and which precision to use.

    \b
    Examples:
      dask-openvino check model.xml features.parquet --inputs f0,f1,f2
      dask-openvino check model.xml test.parquet --inputs pixels --int8 models/model-int8.xml
    """  # noqa: D301  (click's no-rewrap marker is a literal backspace)
    with cli_errors(ValueError):
        frame = read_table(data, format_of(data, "auto"))
        report = check_precision(
            model,
            frame,
            inputs=expand_inputs(inputs, [str(column) for column in frame.columns]),
            rows=rows,
            int8=int8,
            quantize_sample=quantize_sample,
            seconds=seconds,
        )
    console = Console()
    console.print(report.table())
    console.print(f"auto on this CPU: {report.auto}", soft_wrap=True)
    console.print(f"Recommendation: {report.recommendation}", soft_wrap=True)
