from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner
from distributed import LocalCluster

import model_factory
from _jobs import wait_for_files
from dask_openvino import demo
from dask_openvino.cli import main
from dask_openvino.policy import choose_overflow_fix, cpu_features

LOCAL = ["--workers", "1", "--threads-per-worker", "1", "--dashboard-address", ":0"]
WEIGHTS = np.array([1.0, 2.0, 3.0], np.float32)


@pytest.fixture(scope="module")
def scheduler() -> Iterator[list[str]]:
    """A running cluster that ``--scheduler`` points at, shared to keep the tests fast."""
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        yield ["--scheduler", cluster.scheduler_address]


def _features(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, 3)).astype(np.float32), columns=["a", "b", "c"])


def _write_parquet(directory: Path, frame: pd.DataFrame, files: int) -> Path:
    directory.mkdir()
    for number, part in enumerate(np.array_split(np.arange(len(frame)), files)):
        frame.iloc[part].reset_index(drop=True).to_parquet(directory / f"part.{number}.parquet")
    return directory


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if "dask-openvino" in p.name)


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args], catch_exceptions=False)
    return result.exit_code, result.output


def test_help_of_every_command_shows_examples() -> None:
    code, output = _invoke("--help")
    assert code == 0
    assert "Examples" in output
    commands = sorted(main.commands)
    assert {"demo", "info", "predict"} <= set(commands)
    for command in commands:
        code, output = _invoke(command, "--help")
        assert code == 0, output
        assert "Examples:" in output, command
        assert f"dask-openvino {command}" in output


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "dask-openvino"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "dask-openvino, version" in result.stdout


@pytest.mark.cluster
def test_predict_parquet_end_to_end(tmp_path: Path, score_xml: Path) -> None:
    frame = _features(2000)
    source = _write_parquet(tmp_path / "features.parquet", frame, files=4)
    output = tmp_path / "scored.parquet"
    code, text = _invoke("predict", str(score_xml), str(source), "-o", str(output), "--inputs", "a,b,c", *LOCAL)
    assert code == 0, text
    assert sorted(p.name for p in output.glob("part.*")) == [f"part.{n:05d}.parquet" for n in range(4)]
    scored = pd.concat([pd.read_parquet(output / f"part.{n:05d}.parquet") for n in range(4)], ignore_index=True)
    assert list(scored.columns) == ["a", "b", "c", "prediction"]
    pd.testing.assert_frame_equal(scored[["a", "b", "c"]], frame, check_dtype=False)
    np.testing.assert_allclose(scored["prediction"].to_numpy(), frame.to_numpy() @ WEIGHTS, rtol=1e-5, atol=1e-5)
    assert re.search(r"rows scored\s+2,000", text)
    assert "rows/s" in text
    assert f"Output: {output}\n" in text
    assert _leftovers(tmp_path) == []


@pytest.mark.cluster
def test_predict_csv_to_csv_with_named_inputs_and_partitions(
    tmp_path: Path, linear_xml: Path, scheduler: list[str]
) -> None:
    frame = _features(300, seed=1)
    source = tmp_path / "features.csv"
    frame.to_csv(source, index=False)
    output = tmp_path / "scored.csv"
    code, text = _invoke(
        "predict",
        str(linear_xml),
        str(source),
        "-o",
        str(output),
        "--inputs",
        "x=a+b+c",
        "--output-names",
        "y",
        "--no-keep-input",
        "--partitions",
        "3",
        "--batch-size",
        "7",
        *scheduler,
    )
    # The linear model's output holds two values per row, which CSV cannot store.
    assert code == 1
    assert "CSV cannot store" in text
    assert not output.exists()

    score_xml = model_factory.score(tmp_path / "score.xml")
    code, text = _invoke(
        "predict",
        str(score_xml),
        str(source),
        "-o",
        str(output),
        "--inputs",
        "x=a+b+c",
        "--no-keep-input",
        "--partitions",
        "3",
        "--batch-size",
        "7",
        *scheduler,
    )
    assert code == 0, text
    assert output.is_file()  # a .csv name gives one file
    scored = pd.read_csv(output)
    assert list(scored.columns) == ["prediction"]
    np.testing.assert_allclose(scored["prediction"].to_numpy(), frame.to_numpy() @ WEIGHTS, rtol=1e-4, atol=1e-4)


@pytest.mark.cluster
def test_predict_reads_compressed_tsv_tab_separated(tmp_path: Path, score_xml: Path, scheduler: list[str]) -> None:
    frame = _features(120, seed=2)
    source = tmp_path / "features.tsv.gz"
    frame.to_csv(source, sep="\t", index=False)
    output = tmp_path / "scored.parquet"
    code, text = _invoke("predict", str(score_xml), str(source), "-o", str(output), "--inputs", "a,b,c", *scheduler)
    assert code == 0, text
    scored = pd.read_parquet(output)
    assert list(scored.columns) == ["a", "b", "c", "prediction"]
    pd.testing.assert_frame_equal(scored[["a", "b", "c"]], frame, check_dtype=False)
    np.testing.assert_allclose(scored["prediction"].to_numpy(), frame.to_numpy() @ WEIGHTS, rtol=1e-4, atol=1e-4)


def test_predict_reports_the_precision_the_workers_compiled_with(
    tmp_path: Path, score_xml: Path, scheduler: list[str]
) -> None:
    source = _write_parquet(tmp_path / "features.parquet", _features(50), files=1)
    for precision, expected in (("f32", r"precision\s+f32 \(asked for\)"), ("auto", r"precision\s+\w+ \(auto: ")):
        output = tmp_path / f"{precision}.parquet"
        code, text = _invoke(
            "predict",
            str(score_xml),
            str(source),
            "-o",
            str(output),
            "--inputs",
            "a,b,c",
            "--precision",
            precision,
            *scheduler,
        )
        assert code == 0, text
        assert re.search(expected, text), text
    code, text = _invoke("predict", str(score_xml), str(source), "-o", str(tmp_path / "x"), "--precision", "fp8")
    assert code == 2 and "'fp8' is not one of 'auto', 'f32', 'bf16', 'f16'" in text


def test_predict_checks_columns_before_starting_a_cluster(tmp_path: Path, score_xml: Path) -> None:
    source = _write_parquet(tmp_path / "features.parquet", _features(10), files=1)
    output = tmp_path / "scored.parquet"
    code, text = _invoke("predict", str(score_xml), str(source), "-o", str(output), "--inputs", "a,b,d", *LOCAL)
    assert code == 1
    assert "InputSchemaError" in text
    assert "'d'" in text
    assert "Cluster:" not in text
    assert not output.exists()
    assert _leftovers(tmp_path) == []


def test_predict_usage_errors(tmp_path: Path, score_xml: Path) -> None:
    source = _write_parquet(tmp_path / "features.parquet", _features(10), files=1)
    code, text = _invoke(
        "predict", str(score_xml), str(source), "-o", str(tmp_path / "o"), "--scheduler", "tcp://h:1", "--workers", "2"
    )
    assert code == 2
    assert "--scheduler" in text
    code, text = _invoke(
        "predict", str(score_xml), str(source), "-o", str(tmp_path / "o"), "--inputs", "x=a", "--inputs", "b"
    )
    assert code == 2
    assert "NAME=COLUMN" in text
    code, text = _invoke("predict", str(score_xml), str(tmp_path / "missing.parquet"), "-o", str(tmp_path / "o"))
    assert code == 1
    assert f"InputNotFoundError: not found: {tmp_path / 'missing.parquet'}" in text


@pytest.mark.cluster
def test_failed_partition_leaves_no_output(tmp_path: Path, int_xml: Path, scheduler: list[str]) -> None:
    frame = pd.DataFrame({"p": np.arange(40, dtype=np.float64), "q": np.ones(40)})
    frame.loc[35, "q"] = np.nan  # the model's input is int32: the gap fails the last partition only
    source = _write_parquet(tmp_path / "ids.parquet", frame, files=4)
    output = tmp_path / "scored.parquet"
    code, text = _invoke("predict", str(int_xml), str(source), "-o", str(output), "--inputs", "ids=p+q", *scheduler)
    assert code == 1
    assert "InputValueError" in text  # the InputSchemaError that names values
    assert "column 'q'" in text
    assert not output.exists()
    assert _leftovers(tmp_path) == []


@pytest.mark.cluster
def test_existing_output_is_kept_unless_overwrite(tmp_path: Path, score_xml: Path, scheduler: list[str]) -> None:
    source = _write_parquet(tmp_path / "features.parquet", _features(50), files=2)
    output = tmp_path / "scored.parquet"
    output.mkdir()
    (output / "part.0.parquet").write_text("previous run")
    code, text = _invoke("predict", str(score_xml), str(source), "-o", str(output), "--inputs", "a,b,c", *scheduler)
    assert code == 1
    assert "--overwrite" in text
    assert (output / "part.0.parquet").exists()
    code, text = _invoke(
        "predict", str(score_xml), str(source), "-o", str(output), "--inputs", "a,b,c", "--overwrite", *scheduler
    )
    assert code == 0, text
    assert sorted(p.name for p in output.iterdir()) == [
        "_dask_openvino.json",
        "part.00000.parquet",
        "part.00001.parquet",
    ]


@pytest.mark.cluster
@pytest.mark.slow
def test_ctrl_c_cancels_and_leaves_no_output(tmp_path: Path, score_xml: Path) -> None:
    source = _write_parquet(tmp_path / "features.parquet", _features(100_000), files=200)
    output = tmp_path / "scored.parquet"
    script = Path(sys.executable).parent / "dask-openvino"
    command = [str(script), "predict", str(score_xml), str(source), "-o", str(output), "--inputs", "a,b,c", *LOCAL]
    # A new session stands for a terminal: Ctrl-C signals the whole process group.
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        wait_for_files(process, tmp_path, ".scored.parquet.dask-openvino-*/part.*")
        os.killpg(process.pid, signal.SIGINT)
        text, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, text
    assert "Interrupted" in text
    assert "Traceback" not in text
    assert not output.exists()
    assert _leftovers(tmp_path) == []


def test_info_prints_ports_and_fingerprint(multi_io_xml: Path) -> None:
    code, text = _invoke("info", str(multi_io_xml))
    assert code == 0, text
    spec_fingerprint = re.search(r"fingerprint: ([0-9a-f]{32})", text)
    assert spec_fingerprint is not None
    assert "image: f32[?,2,4]" in text
    assert "bias: f32[?,3]" in text
    assert "logits: f32[?,10]" in text
    code, text = _invoke("info", str(multi_io_xml), "--json")
    assert code == 0
    described = json.loads(text)
    assert described["fingerprint"] == spec_fingerprint.group(1)
    assert [port["name"] for port in described["inputs"]] == ["image", "bias"]
    assert described["outputs"][0] == {"name": "total", "element_type": "f32", "shape": [None, 1]}


def test_info_on_a_missing_model(tmp_path: Path) -> None:
    code, text = _invoke("info", str(tmp_path / "nope.xml"))
    assert code == 1
    assert "ModelLoadError" in text


@pytest.mark.parametrize(
    ("ratio", "written"),
    [
        (1.0, "1.0x"),
        (0.996, "1.0x"),
        (0.99, "0.99x"),
        (0.047, "0.047x"),
        (5.26, "5.3x"),
        (9.96, "10.0x"),
        (12.34, "12.3x"),
    ],
)
def test_demo_writes_speedups_with_two_significant_digits_below_10(ratio: float, written: str) -> None:
    # 0.996 was written "1x", beside "1.0x" for the baseline.
    assert demo._times(ratio) == written


@pytest.mark.cluster
@pytest.mark.slow
def test_demo_quick(tmp_path: Path, scheduler: list[str]) -> None:
    code, text = _invoke("demo", "--quick", "--rows", "5000", "--workdir", str(tmp_path), *scheduler)
    assert code == 0, text
    assert (tmp_path / "fp32" / "digits_mlp.xml").exists()
    assert len(list((tmp_path / "digits.parquet").glob("part.*.parquet"))) == 2
    accuracies = {name: float(value) for name, value in re.findall(r"(scikit-learn|FP32|INT8)[^\n]*?([0-9.]+)%", text)}
    assert set(accuracies) >= {"scikit-learn", "FP32"}, text
    assert accuracies["scikit-learn"] > 85
    # OpenVINO computes the same network in float32: at most a handful of near-ties may flip.
    assert abs(accuracies["FP32"] - accuracies["scikit-learn"]) < 0.2
    if "INT8" in accuracies:
        assert abs(accuracies["INT8"] - accuracies["FP32"]) < 2
    assert "speedup" in text
    speedups = re.findall(r"│\s*([0-9.e+-]+)x\s*│", text)
    assert speedups[0] == "1.0" and all(float(value) > 0 for value in speedups), text  # never "0.0x"
    # The agreement column: FP32 (compiled in f32 here) predicts scikit-learn's digit on all but near-ties.
    agreement = re.search(r"FP32[^\n]*?[0-9.]+%[^\n]*?([0-9.]+)%", text)
    assert agreement is not None, text
    assert float(agreement.group(1)) > 99.5
    assert "Agreement: the share of the" in text


def _colour_model(path: Path) -> Path:
    """``scores[N, 3]``: the mean of each channel of ``image[N, 3, 8, 8]``."""
    from openvino import Model, opset13, save_model

    image = opset13.parameter([-1, 3, 8, 8], np.float32, name="image")
    scores = opset13.reduce_mean(image, opset13.constant(np.array([2, 3], np.int64)), keep_dims=False)
    scores.output(0).get_tensor().set_names({"scores"})
    save_model(Model([scores.output(0)], [image], "colours"), path, compress_to_fp16=False)
    return path


def _png(colour: tuple[int, int, int], size: tuple[int, int]) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _postprocess(tmp_path: Path, values: list[str], labels: list[str] | None = None) -> object:
    """The ``postprocess=`` that ``predict`` builds from ``--postprocess`` values, ``--labels`` given after them."""
    from dask_openvino.cli.predict import predict_command

    args = ["model.xml", "t.parquet", "-o", str(tmp_path / "o")]
    for value in values:
        args += ["--postprocess", value]
    if labels is not None:
        (tmp_path / "labels.txt").write_text("\n".join(labels))
        args += ["--labels", str(tmp_path / "labels.txt")]
    return predict_command.make_context("predict", args).params["postprocess"]


def test_parse_preprocess_and_postprocess(tmp_path: Path) -> None:
    from dask_openvino import postprocessing as post
    from dask_openvino import preprocessing as pre
    from dask_openvino import text
    from dask_openvino.cli.processing import parse_preprocess

    pipeline = parse_preprocess("image:paths,resize=256,crop=224x200,imagenet,format=nchw,backend=numpy")
    assert pipeline == pre.ChainedPreprocessing(
        [
            pre.ImageRead(),
            pre.ImageResize(256, 256),
            pre.ImageCenterCrop(224, 200),
            pre.ImageChannelNormalize((123.675, 116.28, 103.53), (58.395, 57.12, 57.375)),
            pre.ImageMatToTensor(format="NCHW", to_RGB=True),
        ],
        backend="numpy",
    )
    assert parse_preprocess("image").steps == (pre.ImageBytesToTensor(), pre.ImageMatToTensor())
    assert parse_preprocess("text:tok.json,max_length=64") == text.TextTokenize("tok.json", max_length=64)
    assert parse_preprocess("sentence-embedding:tok.json,pooling=cls,no-normalize") == text.SentenceEmbedding(
        "tok.json", pooling="cls", normalize=False
    )
    assert _postprocess(tmp_path, ["topk:3,softmax"], ["a", "b", "c"]) == post.TopK(3, ["a", "b", "c"], softmax=True)
    assert _postprocess(tmp_path, ["logits=argmax", "score=threshold:0.9,expand"]) == {
        "logits": post.ArgMax(),
        "score": post.Threshold(0.9, expand=True),
    }
    assert _postprocess(tmp_path, ["softmax:expand"]) == post.Softmax(expand=True)
    assert _postprocess(tmp_path, []) is None
    for bad in ("video", "image:zoom=2", "image:resize=big", "text", "image:std=1/2/3"):
        with pytest.raises(click.BadParameter):
            parse_preprocess(bad)
    for bad_post in (["topk:two"], ["argmax", "softmax"], ["median"], ["threshold:0.5,softmax"]):
        with pytest.raises(click.BadParameter):
            _postprocess(tmp_path, bad_post)
    for unused in ([], ["softmax"], ["a=softmax", "b=threshold"]):  # class names nothing would apply
        with pytest.raises(click.UsageError, match="--labels names the classes that --postprocess argmax or topk:K"):
            _postprocess(tmp_path, unused, ["a", "b", "c"])
    assert _postprocess(tmp_path, ["a=softmax", "b=argmax"], ["x", "y"]) == {
        "a": post.Softmax(),
        "b": post.ArgMax(["x", "y"]),
    }


@pytest.mark.cluster
def test_predict_images_with_preprocess_and_labels(tmp_path: Path, scheduler: list[str]) -> None:
    model = _colour_model(tmp_path / "colours.xml")
    colours = [(250, 10, 10), (10, 250, 10), (10, 10, 250), (200, 30, 30), (5, 5, 240)]
    images = [_png(colour, (8 + 3 * i, 10 + i)) for i, colour in enumerate(colours)]
    source = tmp_path / "photos.parquet"
    pd.DataFrame({"jpeg": pd.array(images, dtype=pd.ArrowDtype(pa.binary())), "id": range(5)}).to_parquet(source)
    labels = tmp_path / "labels.txt"
    labels.write_text("red\ngreen\nblue\n")
    output = tmp_path / "labels.parquet"
    code, text = _invoke(
        "predict",
        str(model),
        str(source),
        "-o",
        str(output),
        "--inputs",
        "image=jpeg",
        "--preprocess",
        "image:resize=8,rgb",
        "--postprocess",
        "topk:1",
        "--labels",
        str(labels),
        "--no-keep-input",
        *scheduler,
    )
    assert code == 0, text
    scored = pd.read_parquet(output)
    assert scored["label"].tolist() == ["red", "green", "blue", "red", "blue"]
    np.testing.assert_allclose(scored["probability"].to_numpy(), [250, 250, 250, 200, 240], atol=1)

    # Tensor-valued columns read back with plain pandas (arrays per row) and as pyarrow lists.
    code, text = _invoke(
        "predict",
        str(model),
        str(source),
        "-o",
        str(tmp_path / "scores.parquet"),
        "--inputs",
        "image=jpeg",
        "--preprocess",
        "image:resize=8,rgb",
        "--postprocess",
        "topk:2",
        "--labels",
        str(labels),
        *scheduler,
    )
    assert code == 0, text
    plain = pd.read_parquet(tmp_path / "scores.parquet")
    assert list(plain["label"].iloc[2]) == ["blue", "red"]  # (10, 10, 250): the tie goes to the lower index
    arrow = pd.read_parquet(tmp_path / "scores.parquet", dtype_backend="pyarrow")
    assert pa.types.is_fixed_size_list(arrow["probability"].dtype.pyarrow_dtype)
    assert plain["jpeg"].tolist() == images


@pytest.mark.slow
def test_convert_and_quantize_commands(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    weights = rng.normal(size=(8, 4)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["logits"]), helper.make_node("Softmax", ["logits"], ["probs"])],
        "classifier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 4])],
        initializer=[numpy_helper.from_array(weights, "w")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "classifier.onnx")
    code, text = _invoke(
        "convert", str(tmp_path / "classifier.onnx"), "-o", str(tmp_path / "ir"), "--mean-values", "0.5"
    )
    assert code == 0, text
    assert "x: f32[?,8]" in text
    assert "probs: f32[?,4]" in text
    fp32 = tmp_path / "ir" / "classifier.xml"

    features = pd.DataFrame(rng.normal(size=(600, 8)).astype(np.float32), columns=[f"f{i}" for i in range(8)])
    features.iloc[:400].to_parquet(tmp_path / "calibration.parquet")
    features.iloc[400:].to_csv(tmp_path / "holdout.csv", index=False)
    columns = ",".join(features.columns)
    code, text = _invoke(
        "quantize",
        str(fp32),
        str(tmp_path / "calibration.parquet"),
        "-o",
        str(tmp_path / "int8"),
        "--inputs",
        columns,
        "--subset-size",
        "100",
        "--holdout",
        str(tmp_path / "holdout.csv"),
    )
    assert code == 0, text
    assert (tmp_path / "int8" / "classifier-int8.xml").exists()
    assert "200 rows compared" in text
    assert re.search(r"probs: max abs diff [0-9.e-]+, top-1 agreement", text)
    fix, reason = choose_overflow_fix(None, cpu_features())
    assert f"overflow fix: {fix} ({reason})" in text
    code, text = _invoke("convert", str(tmp_path / "missing.onnx"), "-o", str(tmp_path / "ir2"))
    assert code == 1
    assert "ConversionError" in text


def test_predict_options_reach_the_job_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, score_xml: Path) -> None:
    from dask_openvino import postprocessing as post
    from dask_openvino import preprocessing as pre
    from dask_openvino.cli import predict
    from dask_openvino.cli.job import PredictJob
    from dask_openvino.errors import InputSchemaError

    jobs: list[PredictJob] = []

    def build_scoring(job: PredictJob) -> None:
        jobs.append(job)
        raise InputSchemaError("stopped before scoring")

    monkeypatch.setattr(predict, "build_scoring", build_scoring)
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\n\ndog\n")
    code, text = _invoke(
        "predict",
        str(score_xml),
        "data/*.csv.gz",
        "-o",
        str(tmp_path / "scored"),
        "--inputs",
        "image=jpeg",
        "--inputs",
        "bias=b0+b1",
        "--output-names",
        "logits,total",
        "--config",
        "PERFORMANCE_HINT=LATENCY",
        "--config",
        "INFERENCE_NUM_THREADS=2",
        "--preprocess",
        "image:resize=8",
        "--postprocess",
        "logits=topk:2",
        "--postprocess",
        "total=threshold:0.9",
        "--labels",
        str(labels),
        *LOCAL,
    )
    assert code == 1
    assert "InputSchemaError: stopped before scoring" in text
    (job,) = jobs
    assert job.inputs == {"image": "jpeg", "bias": ["b0", "b1"]}
    assert job.output_names == ["logits", "total"]
    assert job.config == {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": "2"}
    assert (job.input_format, job.output_format) == ("csv", "parquet")
    assert job.preprocess == pre.ChainedPreprocessing(
        [pre.ImageBytesToTensor(), pre.ImageResize(8, 8), pre.ImageMatToTensor()]
    )
    assert job.postprocess == {"logits": post.TopK(2, ["cat", "dog"]), "total": post.Threshold(0.9)}


@pytest.mark.parametrize(
    ("args", "option", "message"),
    [
        (["--inputs", "x=a", "--inputs", "b"], "--inputs", "NAME=COLUMN"),
        (["--config", "FOO"], "--config", "'FOO' is not KEY=VALUE"),
        (["--preprocess", "image:zoom=2"], "--preprocess", "unknown option 'zoom=2'"),
        (["--postprocess", "topk:0"], "--postprocess", "'topk:0': "),
        (["--postprocess", "argmax", "--postprocess", "softmax"], "--postprocess", "write each as OUTPUT=KIND"),
        (["--labels", "missing-labels.txt"], "--labels", "cannot read missing-labels.txt"),
    ],
)
def test_predict_option_mistakes_are_usage_errors_naming_the_option(
    tmp_path: Path, args: list[str], option: str, message: str
) -> None:
    code, text = _invoke("predict", str(tmp_path / "no-model.xml"), "t.parquet", "-o", str(tmp_path / "o"), *args)
    assert code == 2, text
    assert f"Invalid value for '{option}'" in text
    assert message in text
    assert "ModelLoadError" not in text


def test_convert_and_quantize_options_reach_the_library_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dask_openvino.cli import commands

    calls: list[dict[str, object]] = []

    def stop(*args: object, **kwargs: object) -> None:
        calls.append(kwargs)
        raise ValueError("stopped")

    monkeypatch.setattr(commands, "convert", stop)
    code, text = _invoke(
        "convert",
        "model.onnx",
        "-o",
        str(tmp_path),
        "--input-shape",
        "x=?,3,224,224",
        "--input-shape",
        "mask=[1,-1]",
        "--layout",
        "nchw",
        "--mean-values",
        "123.675/116.28/103.53",
        "--scale-values",
        "255",
        "--name",
        "classifier",
    )
    assert code == 1
    assert "ValueError: stopped" in text
    assert calls[-1] == {
        "input_shape": {"x": [None, 3, 224, 224], "mask": [1, None]},
        "layout": "NCHW",
        "mean_values": [123.675, 116.28, 103.53],
        "scale_values": 255.0,
        "reverse_input_channels": False,
        "compress_to_fp16": False,
        "name": "classifier",
    }
    code, text = _invoke("convert", "model.onnx", "-o", str(tmp_path), "--layout", "x=NCHW", "--layout", "NC")
    assert code == 2
    assert "repeat --layout only as NAME=VALUE" in text

    monkeypatch.setattr(commands, "quantize", stop)
    _features(20).to_parquet(tmp_path / "calibration.parquet")
    code, text = _invoke(
        "quantize",
        "model.xml",
        str(tmp_path / "calibration.parquet"),
        "-o",
        str(tmp_path),
        "--inputs",
        "a,b",
        "--inputs",
        "c",
        "--overflow-fix",
        "disable",
    )
    assert code == 1, text
    assert calls[-1]["inputs"] == ["a", "b", "c"]
    assert calls[-1]["overflow_fix"] == "disable"


def test_an_input_whose_fsspec_backend_is_missing_names_what_to_install(score_xml: Path, tmp_path: Path) -> None:
    # sftp:// needs paramiko, which the test environment does not install: a typed error naming
    # the backend, not fsspec's bare ImportError with a traceback.
    code, text = _invoke("predict", str(score_xml), "sftp://host/features.parquet", "-o", str(tmp_path / "o"))
    assert code == 1, text
    assert "MissingDependencyError" in text and "sftp://" in text
    assert "Traceback" not in text
