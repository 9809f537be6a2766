"""The command line as a newcomer meets it (issue 15's CLI items, issue 12's single-file split)."""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import cast

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from dask.utils import key_split
from distributed import Client, LocalCluster
from rich.console import Console

import model_factory
from _jobs import wait_for_files
from dask_openvino.cli import main, tables
from dask_openvino.cli.job import PredictJob, build_scoring
from dask_openvino.cli.logs import task_name, worker_logging
from dask_openvino.progress import track
from dask_openvino.versions import check_versions

WEIGHTS = np.array([1.0, 2.0, 3.0], np.float32)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as local:
        yield local


@pytest.fixture()
def scheduler(cluster: LocalCluster) -> list[str]:
    return ["--scheduler", cluster.scheduler_address]


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args], catch_exceptions=False)
    return result.exit_code, result.output


def _table(rows: int, *, extra: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, 3)).astype(np.float32), columns=["f0", "f1", "f2"])
    if extra:
        frame["id"] = np.arange(rows)
        frame["label"] = rng.integers(0, 2, rows)
        frame["junk"] = 0.5
    return frame


def _colour_model(path: Path) -> Path:
    """``scores[N, 3]``: the mean of each channel of ``image[N, 3, 8, 8]``."""
    from openvino import Model, opset13, save_model

    image = opset13.parameter([-1, 3, 8, 8], np.float32, name="image")
    scores = opset13.reduce_mean(image, opset13.constant(np.array([2, 3], np.int64)), keep_dims=False)
    scores.output(0).get_tensor().set_names({"scores"})
    save_model(Model([scores.output(0)], [image], "colours"), path, compress_to_fp16=False)
    return path


def _photos(tmp_path: Path) -> tuple[Path, Path]:
    """Three image paths, the second one not an image; indexed by name."""
    from PIL import Image

    paths = []
    for name, colour in (("red", (250, 10, 10)), ("broken", None), ("blue", (10, 10, 250))):
        path = tmp_path / f"{name}.png"
        if colour is None:
            path.write_bytes(b"not an image")
        else:
            Image.new("RGB", (8, 8), colour).save(path)
        paths.append(str(path))
    source = tmp_path / "photos.parquet"
    pd.DataFrame({"path": paths}, index=pd.Index(["r", "b", "u"])).to_parquet(source)
    return _colour_model(tmp_path / "colours.xml"), source


PHOTO_ARGS = ["--inputs", "image=path", "--preprocess", "image:paths,resize=8,rgb"]


@pytest.mark.cluster
def test_one_parquet_file_is_split_by_row_groups(tmp_path: Path, score_xml: Path, scheduler: list[str]) -> None:
    frame = _table(300_000)
    source = tmp_path / "big.parquet"
    pq.write_table(pa.Table.from_pandas(frame), source, row_group_size=100_000)
    output = tmp_path / "scored.parquet"
    code, text = _invoke("predict", str(score_xml), str(source), "-o", str(output), "--inputs", "f0,f1,f2", *scheduler)
    assert code == 0, text
    assert re.search(r"partitions\s+3\b", text), text
    assert sorted(p.name for p in output.glob("part.*")) == [f"part.{n:05d}.parquet" for n in range(3)]
    scored = pd.read_parquet(output)
    np.testing.assert_allclose(scored["prediction"].to_numpy(), frame.to_numpy() @ WEIGHTS, rtol=1e-5, atol=1e-4)
    # At 80 columns (the width of a console that is not a terminal) the rows/s figure stays on its line.
    progress = [line for line in text.splitlines() if "scoring" in line]
    assert len(progress) == 1 and re.search(r"300k rows [\d.]+[kM]?/s", progress[0]), text
    assert len(progress[0]) <= 80


def test_one_row_group_file_warns_that_it_is_one_partition(tmp_path: Path, score_xml: Path) -> None:
    source = tmp_path / "whole.parquet"
    pq.write_table(pa.Table.from_pandas(_table(250_000)), source, row_group_size=250_000)
    frame = build_scoring(PredictJob(str(score_xml), str(source), str(tmp_path / "o"), inputs=["f0", "f1", "f2"]))
    assert frame.npartitions == 1
    # The warning comes while the input is read, before the (here wrong) columns stop the command.
    code, text = _invoke("predict", str(score_xml), str(source), "-o", str(tmp_path / "o"), "--inputs", "f0,f1,x")
    assert code == 1
    assert "one row group of 250,000 rows" in text
    assert "--partitions" in text


def _columns_read(scored: dd.DataFrame) -> list[list[str]]:
    from dask.dataframe.dask_expr.io.io import FusedIO
    from dask.dataframe.dask_expr.io.parquet import ReadParquet

    reads = []
    for expr in scored.optimize(fuse=False).expr.walk():
        inner = expr.operand("_expr") if isinstance(expr, FusedIO) else expr
        if isinstance(inner, ReadParquet):
            reads.append(list(inner.columns))
    return reads


def test_only_the_columns_a_job_uses_are_read(tmp_path: Path, score_xml: Path) -> None:
    source = tmp_path / "wide.parquet"
    _table(50, extra=True).to_parquet(source)
    job = PredictJob(str(score_xml), str(source), str(tmp_path / "o"), inputs=["f*"], keep=("id", "lab*"))
    scored = build_scoring(job)
    assert list(scored.columns) == ["id", "label", "prediction"]
    assert _columns_read(scored) == [["f0", "f1", "f2", "id", "label"]]
    only = build_scoring(PredictJob(str(score_xml), str(source), "o", inputs=["f0", "f1", "f2"], keep_input=False))
    assert _columns_read(only) == [["f0", "f1", "f2"]]


def test_projection_keeps_the_row_group_partitions(tmp_path: Path, score_xml: Path) -> None:
    frame = _table(400, extra=True).assign(**{f"x{i}": np.float32(i) for i in range(20)})
    source = tmp_path / "wide.parquet"
    pq.write_table(pa.Table.from_pandas(frame), source, row_group_size=100)
    job = PredictJob(str(score_xml), str(source), "o", inputs=["f0", "f1", "f2"], keep_input=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tables, "PARTITION_ROWS", 100)
        scored = build_scoring(job)
    # Dask would join the four partitions of a few projected columns into one.
    assert scored.optimize().npartitions == 4


@pytest.mark.cluster
def test_inputs_patterns_and_keep(tmp_path: Path, score_xml: Path, scheduler: list[str]) -> None:
    frame = _table(60, extra=True)
    source = tmp_path / "wide.parquet"
    frame.to_parquet(source)
    output = tmp_path / "scored.parquet"
    code, text = _invoke(
        "predict", str(score_xml), str(source), "-o", str(output), "--inputs", "f*", "--keep", "id,label", *scheduler
    )
    assert code == 0, text
    scored = pd.read_parquet(output)
    assert list(scored.columns) == ["id", "label", "prediction"]
    assert scored["id"].tolist() == list(range(60))
    np.testing.assert_allclose(
        scored["prediction"].to_numpy(), frame[["f0", "f1", "f2"]].to_numpy() @ WEIGHTS, rtol=1e-5
    )
    code, text = _invoke("predict", str(score_xml), str(source), "-o", str(tmp_path / "x"), "--inputs", "g*")
    assert code == 1
    assert "--inputs pattern 'g*' matches no column" in text
    code, text = _invoke("predict", str(score_xml), str(source), "-o", str(tmp_path / "x"), "--keep", "nope")
    assert code == 1
    assert "--keep column 'nope' is not in the input" in text


def test_a_failing_job_prints_one_clean_error(tmp_path: Path) -> None:
    model, source = _photos(tmp_path)
    script = Path(sys.executable).parent / "dask-openvino"
    command = [str(script), "predict", str(model), str(source), "-o", str(tmp_path / "o"), *PHOTO_ARGS]
    command += ["--workers", "1", "--threads-per-worker", "1", "--dashboard-address", ":0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    text = done.stdout + done.stderr
    assert done.returncode == 1, text
    assert "Compute Failed" not in text
    assert "Traceback" not in text
    error = [line for line in text.splitlines() if line.startswith("Error:")]
    assert len(error) == 1, text
    assert "row 'b'" in error[0]
    assert "broken.png" in error[0]
    assert "--errors null" in error[0]
    assert "errors='null'" not in error[0]


def test_a_bad_precision_setting_is_one_error_naming_its_variable(tmp_path: Path, score_xml: Path) -> None:
    source = tmp_path / "t.parquet"
    _table(8).to_parquet(source)
    with dask.config.set({"openvino.precision": "F32"}):  # as DASK_OPENVINO__PRECISION=F32 sets it
        code, text = _invoke("predict", str(score_xml), str(source), "-o", str(tmp_path / "o"), "--inputs", "f0,f1,f2")
    assert code == 1, text
    assert "Traceback" not in text
    assert "Error: SettingError: Dask's openvino.precision setting (DASK_OPENVINO__PRECISION" in text
    assert "got 'F32'" in text
    assert not (tmp_path / "o").exists()


def test_a_multi_input_mistake_suggests_the_option_not_a_python_dict(tmp_path: Path, multi_io_xml: Path) -> None:
    source = tmp_path / "t.parquet"
    pd.DataFrame({f"c{i}": np.zeros(4, np.float32) for i in range(3)}).to_parquet(source)
    code, text = _invoke("predict", str(multi_io_xml), str(source), "-o", str(tmp_path / "o"), "--inputs", "c0,c1,c2")
    assert code == 1, text
    assert "--inputs lists 3 columns ['c0', 'c1', 'c2']" in text
    assert "or NAME=COL pairs (--inputs a=a0+a1 --inputs b=b0)" in text and "dict" not in text


@pytest.mark.cluster
def test_errors_null_counts_failed_rows_apart(tmp_path: Path, scheduler: list[str]) -> None:
    model, source = _photos(tmp_path)
    output = tmp_path / "scored.parquet"
    code, text = _invoke(
        "predict", str(model), str(source), "-o", str(output), *PHOTO_ARGS, "--errors", "null", *scheduler
    )
    assert code == 0, text
    assert re.search(r"rows scored\s+2\s*\n", text), text
    assert re.search(r"rows failed\s+1 \(reasons in column prediction_error\)", text), text
    assert "Warning: 1 of 3 rows failed; their reasons are in column prediction_error" in text
    assert pd.read_parquet(output)["prediction_error"].notna().tolist() == [False, True, False]


def test_missing_input_and_a_folder_without_tables(tmp_path: Path, score_xml: Path) -> None:
    missing = tmp_path / "nope.parquet"
    code, text = _invoke("predict", str(score_xml), str(missing), "-o", str(tmp_path / "o"))
    assert code == 1
    assert f"Error: InputNotFoundError: not found: {missing}" in text
    assert "registered to the pandas backend" not in text
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "b.png", "notes.txt"):
        (photos / name).write_bytes(b"x")
    code, text = _invoke("predict", str(score_xml), str(photos), "-o", str(tmp_path / "o"))
    assert code == 1
    assert f"no parquet files in directory {photos}: it holds 2 .png, 1 .txt" in text
    assert "accepted: Parquet files (.parquet, .parq, .pq)" in text
    code, text = _invoke("predict", str(score_xml), str(tmp_path / "n*.csv"), "-o", str(tmp_path / "o"))
    assert code == 1
    assert "not found" in text and "matches no file" in text


@pytest.mark.parametrize("zipmap", [False, True], ids=["plain", "zipmap"])
def test_convert_of_a_scikit_learn_onnx_export_points_at_convert_estimator(tmp_path: Path, zipmap: bool) -> None:
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node(
        "LinearClassifier",
        ["X"],
        ["label", "scores"],
        domain="ai.onnx.ml",
        coefficients=[1.0, 2.0, 3.0, -1.0, -2.0, -3.0],
        intercepts=[0.0, 0.0],
        classlabels_ints=[0, 1],
    )
    nodes = [node]
    outputs = [
        helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, 2]),
    ]
    if zipmap:  # skl2onnx's default for classifiers: OpenVINO fails on its output's type first
        nodes.append(
            helper.make_node("ZipMap", ["scores"], ["probabilities"], domain="ai.onnx.ml", classlabels_int64s=[0, 1])
        )
        probabilities = helper.make_map_type_proto(
            TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, [])
        )
        outputs[1] = helper.make_value_info("probabilities", helper.make_sequence_type_proto(probabilities))
    graph = helper.make_graph(
        nodes, "linear", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])], outputs
    )
    opsets = [helper.make_opsetid("", 13), helper.make_opsetid("ai.onnx.ml", 1)]
    onnx.save(helper.make_model(graph, opset_imports=opsets), tmp_path / "linear.onnx")
    code, text = _invoke("convert", str(tmp_path / "linear.onnx"), "-o", str(tmp_path / "ir"))
    assert code == 1
    assert ("Unsupported value_info type" if zipmap else "ai.onnx.ml.LinearClassifier") in text
    # Worded for any ONNX-ML export (LightGBM and XGBoost ones too), scikit-learn's ZipMap as the common case.
    assert "uses operators of the ONNX-ML domain (ai.onnx.ml)" in text and "ZipMap" in text
    assert "dask_openvino.convert(estimator, output_dir)" in text


def test_the_scoring_step_is_named_in_task_names(tmp_path: Path, score_xml: Path) -> None:
    frame = _table(20)
    frame.to_parquet(tmp_path / "t.parquet")
    frame.to_csv(tmp_path / "t.csv", index=False)
    for name, fmt in (("t.parquet", "parquet"), ("t.csv", "csv")):
        job = PredictJob(str(score_xml), str(tmp_path / name), "o", inputs=["f0", "f1", "f2"], input_format=fmt)
        scored = build_scoring(job)
        unfused = {key_split(key) for key in scored.optimize(fuse=False).dask}
        assert "predict-score" in unfused
        # What the dashboard's task stream and progress panel show: the prefix of the fused
        # tasks that write_scored computes, one per partition.
        shown = {key_split(key) for delayed in scored.to_delayed() for key in delayed.dask}
        assert any("predict" in prefix for prefix in shown), (name, shown)
        # The name worker_logging quiets: the job's own scoring tasks, not another job's on the same model.
        assert {delayed.key[0] for delayed in scored.to_delayed()} == {task_name(scored)}
        other = build_scoring(replace(job, inputs=["f2", "f1", "f0"]))
        assert "predict" in task_name(other) != task_name(scored)


def test_versions_are_checked_before_any_plugin_is_registered(
    tmp_path: Path, score_xml: Path, scheduler: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker of another release may not unpickle the command's plugins: it must be named by the check first.
    registered: list[list[str]] = []

    def check(client: Client) -> dict[str, str]:
        registered.append(_cluster_plugins(client))  # worker plugins, and the scheduler's guards
        return check_versions(client)

    monkeypatch.setattr(importlib.import_module("dask_openvino.cli.predict"), "check_versions", check)
    source = tmp_path / "t.parquet"
    _table(20).to_parquet(source)
    args = [str(score_xml), str(source), "-o", str(tmp_path / "o"), "--inputs", "f0,f1,f2"]
    code, text = _invoke("predict", *args, *scheduler)
    assert code == 0, text
    assert registered == [[]]


def _cluster_plugins(client: Client) -> list[str]:
    """The dask-openvino plugins on the scheduler: worker plugins and their scheduler-side guards."""

    def names(dask_scheduler: object) -> list[str]:
        found = [*getattr(dask_scheduler, "worker_plugins", {}), *getattr(dask_scheduler, "plugins", {})]
        return sorted(name for name in found if name.startswith("dask-openvino"))

    return cast(list[str], client.run_on_scheduler(names))


@pytest.mark.cluster
@pytest.mark.slow
def test_a_command_killed_by_sigkill_leaves_no_plugin_on_the_cluster(
    tmp_path: Path, score_xml: Path, cluster: LocalCluster
) -> None:
    # A batch system's kill -9: the command never unregisters its warm-up and logging
    # plugins; the scheduler must, when the command's client disconnects.
    source = tmp_path / "in"
    source.mkdir()
    for number in range(200):
        _table(100).to_parquet(source / f"part.{number:03d}.parquet")
    staging = tmp_path / ".out.dask-openvino-partial"
    command = [str(Path(sys.executable).parent / "dask-openvino"), "predict", str(score_xml), str(source)]
    command += ["-o", str(tmp_path / "out"), "--inputs", "f0,f1,f2", "--scheduler", cluster.scheduler_address, "-v"]
    with Client(cluster) as client:
        job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            wait_for_files(job, staging, "part.*")
            # Its warm-up, its two logging plugins, and a guard for each.
            assert len(_cluster_plugins(client)) == 6, _cluster_plugins(client)
        finally:
            job.kill()
            job.communicate()
        deadline = time.monotonic() + 30
        while (_cluster_plugins(client) or _worker_plugins(client) != [[]]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _cluster_plugins(client) == []
        assert _worker_plugins(client) == [[]]


def _worker_plugins(client: Client) -> list[list[str]]:
    def names(dask_worker: object) -> list[str]:
        return [name for name in getattr(dask_worker, "plugins", {}) if name.startswith("dask-openvino")]

    return list(client.run(names).values())


def _connected(client: Client, other: str) -> bool:
    return bool(client.run_on_scheduler(lambda dask_scheduler: other in dask_scheduler.clients))


def test_a_plugin_outlives_other_clients_and_goes_with_its_own(cluster: LocalCluster) -> None:
    # The scheduler-side guard acts on its own client's departure only.
    with Client(cluster) as client:
        with worker_logging(client, logging.WARNING, marker="read_parquet-predict-1"):
            with Client(cluster) as other:
                assert len(_cluster_plugins(other)) == 2
            deadline = time.monotonic() + 30
            while _connected(client, other.id) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _connected(client, other.id), "the scheduler never saw the other client go"
            assert len(_cluster_plugins(client)) == 2, "another client's departure removed the plugin"
            assert len(_worker_plugins(client)[0]) == 1
        owner = Client(cluster)
        with contextlib.ExitStack() as job:
            job.enter_context(worker_logging(owner, logging.WARNING, marker="read_parquet-predict-2"))
            assert len(_cluster_plugins(client)) == 2
            owner.close()  # its client leaves before the job's end could unregister anything
            deadline = time.monotonic() + 30
            while _cluster_plugins(client) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _cluster_plugins(client) == []


def test_two_jobs_on_one_cluster_keep_their_own_logging_plugin(cluster: LocalCluster) -> None:
    def plugins(client: Client) -> list[str]:
        names = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.worker_plugins))
        return [name for name in names if name.startswith("dask-openvino-cli-logging")]

    with Client(cluster) as client:
        with worker_logging(client, logging.WARNING, marker="read_parquet-predict-1"):
            with worker_logging(client, logging.WARNING, marker="read_parquet-predict-2"):
                assert len(plugins(client)) == 2
            assert len(plugins(client)) == 1, "a job's end unregistered the other job's plugin"
        assert plugins(client) == []
        assert _cluster_plugins(client) == [], "a plugin's guard outlived it"


def _log_in_task(message: str) -> None:
    logging.getLogger("dask_openvino.test").warning(message)


def test_each_job_gets_its_own_tasks_worker_records_until_it_ends(
    cluster: LocalCluster, caplog: pytest.LogCaptureFixture
) -> None:
    def received(message: str) -> int:
        return sum(record.getMessage() == message for record in caplog.records)

    def wait_for(message: str) -> None:
        deadline = time.monotonic() + 30
        while not received(message) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert received(message), f"{message!r} never reached the client"

    with Client(cluster) as client, caplog.at_level(logging.INFO):
        worker = next(iter(client.scheduler_info()["workers"]))  # one worker: its records arrive in order

        def log(message: str, key: str) -> None:
            client.submit(_log_in_task, message, key=key, workers=[worker]).result()

        with worker_logging(client, logging.INFO, marker="predict-job-a"):
            with worker_logging(client, logging.INFO, marker="predict-job-b"):
                log("b, both running", "read_parquet-predict-job-b-0")
                wait_for("b, both running")
                client.run(_log_in_task, "outside any task", workers=[worker])  # no task's: every job's
                deadline = time.monotonic() + 30
                while received("outside any task") < 2 and time.monotonic() < deadline:
                    time.sleep(0.05)
            log("b, after b ended", "read_parquet-predict-job-b-1")  # not a's: not forwarded to a
            log("a, after b ended", "read_parquet-predict-job-a-0")
            wait_for("a, after b ended")  # b's end did not stop a's forwarding
        assert received("b, both running") == 1
        assert received("outside any task") == 2
        assert received("b, after b ended") == 0


def test_info_names_the_column_predict_writes(score_xml: Path) -> None:
    code, text = _invoke("info", str(score_xml))
    assert code == 0, text
    assert "score: f32[?]" in text
    assert "predict writes output score as column 'prediction'" in text


@pytest.mark.cluster
def test_verbose_shows_worker_compiles_and_quiet_only_the_summary(tmp_path: Path, scheduler: list[str]) -> None:
    source = tmp_path / "t.parquet"
    _table(100).to_parquet(source)
    model = model_factory.score(tmp_path / "fresh.xml")  # compiled anew on the worker, which logs it
    args = ["predict", str(model), str(source), "-o", str(tmp_path / "a"), "--inputs", "f0,f1,f2", *scheduler]
    code, text = _invoke(*args, "-v")
    assert code == 0, text
    assert re.search(r"\[tcp://[\d.:]+\] compiled .*fresh\.xml in [\d.]+ s: precision f32", text.replace("\n", " ")), (
        text
    )
    assert "streams" in text
    code, text = _invoke(*args[:4], str(tmp_path / "b"), *args[5:], "-q")
    assert code == 0, text
    assert "scoring" not in text and "Cluster:" not in text
    assert re.search(r"rows scored\s+100", text)


def test_progress_fits_80_columns(cluster: LocalCluster) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=80, force_terminal=True, color_system=None)
    with Client(cluster) as client:
        futures = client.map(lambda n: n, range(40))
        done = track(futures, rows=lambda n: 200_000, console=console)
    assert done.rows == 8_000_000
    last = buffer.getvalue().split("\r")[-1]
    lines = [line for line in last.splitlines() if line.strip(" \x1b[?25h")]
    assert len(lines) == 1, buffer.getvalue()
    assert "8.00M rows" in lines[0] and "/s" in lines[0]


@pytest.mark.cluster
@pytest.mark.slow
def test_partitions_recomputed_after_a_worker_loss_are_counted(tmp_path: Path) -> None:
    def die_once(marker: str) -> int:
        """Kill the worker process running it the first time (as a lost machine would), then return 1."""
        import os

        if not os.path.exists(marker):
            Path(marker).touch()
            os._exit(1)
        return 1

    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as local,
        Client(local) as client,
    ):
        finished = client.submit(int, 2)
        assert finished.result() == 2  # done before the worker dies: not running, so not counted
        futures = [client.submit(die_once, str(tmp_path / "died"), pure=False), finished]
        done = track(futures, rows=int, console=Console(file=io.StringIO()))
    assert done.rows == 3
    assert done.recomputed == 1


def test_two_jobs_on_one_worker_leave_its_log_level_as_they_found_it() -> None:
    # Job A asks for INFO, job B (on the same worker) for WARNING: while either runs the
    # logger is at the most verbose level asked for, and once both end it is back at its own.
    from dask_openvino.cli.logs import _WorkerLogging

    package = logging.getLogger("dask_openvino")
    before = package.level
    package.setLevel(logging.ERROR)
    try:
        a, b = _WorkerLogging(logging.INFO, "job-a"), _WorkerLogging(logging.WARNING, "job-b")
        a.setup(None)
        b.setup(None)
        assert package.level == logging.INFO
        a.teardown(None)
        assert package.level == logging.WARNING
        b.teardown(None)
        assert package.level == logging.ERROR
    finally:
        package.setLevel(before)
