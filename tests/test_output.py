"""Output files of `dask-openvino predict` and `write_scored`: safe places, names in row order, one file, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dask
import dask.dataframe as dd
import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from distributed import LocalCluster

import dask_openvino
from _jobs import wait_for_files
from dask_openvino import OutputError
from dask_openvino.cli import main
from dask_openvino.cli.tables import format_of
from dask_openvino.parts import PartWriter, join_parts, remove_tree
from dask_openvino.schemas import arrow_table

WEIGHTS = np.array([1.0, 2.0, 3.0], np.float32)
# A scheduler nobody listens on: a command that contacts it fails only after a timeout,
# so a prompt refusal proves that the output was checked before any cluster work.
NO_CLUSTER = ["--scheduler", "tcp://127.0.0.1:1"]


@pytest.fixture(scope="module")
def scheduler() -> Iterator[list[str]]:
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        yield ["--scheduler", cluster.scheduler_address]


def _features(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(rows, 3)).astype(np.float32), columns=["a", "b", "c"])


def _parquet(directory: Path, frame: pd.DataFrame, files: int) -> Path:
    directory.mkdir(parents=True)
    for number, rows in enumerate(np.array_split(np.arange(len(frame)), files)):
        frame.iloc[rows].reset_index(drop=True).to_parquet(directory / f"part.{number}.parquet")
    return directory


def _predict(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["predict", *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_output_that_would_delete_the_input_or_the_current_directory_is_refused_before_any_work(
    tmp_path: Path, score_xml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _parquet(tmp_path / "data" / "in.parquet", _features(30), files=3)
    notes = tmp_path / "data" / "notes.txt"
    notes.write_text("unrelated")
    monkeypatch.chdir(tmp_path)
    cases = {
        "data": "it contains the input",
        "data/in.parquet": "it is the input",
        "data/in.parquet/scored": "it lies inside the input",
        ".": "it is or contains the current directory",
        "..": "it is or contains the current directory",
        "/": "it is or contains the root directory",
        str(Path.home()): "it is or contains the home directory",
    }
    for output, reason in cases.items():
        start = time.monotonic()
        code, text = _predict(
            str(score_xml), "data/in.parquet", "-o", output, "--inputs", "a,b,c", "--overwrite", *NO_CLUSTER
        )
        assert code == 1, (output, text)
        assert f"Error: OutputError: refusing to write to {output}: {reason}" in text, text
        assert time.monotonic() - start < 5, "the output was checked after contacting the cluster"
    assert notes.read_text() == "unrelated"
    assert sorted(p.name for p in data.iterdir()) == [f"part.{n}.parquet" for n in range(3)]
    # The Python API refuses the same way, with the typed error.
    scored = dd.read_parquet(data).ov.predict(str(score_xml), inputs=["a", "b", "c"])
    with pytest.raises(OutputError, match="contains the input"):
        dask_openvino.write_scored(scored, "data", overwrite=True, protect=["data/in.parquet"])
    with pytest.raises(OutputError, match="lies inside the input"):
        dask_openvino.write_scored(scored, "data/x.csv", protect=["data/*.csv"])


def test_overwrite_replaces_only_a_previous_output(tmp_path: Path, score_xml: Path, scheduler: list[str]) -> None:
    source = _parquet(tmp_path / "in.parquet", _features(20), files=2)
    output = tmp_path / "results"
    output.mkdir()
    (output / "notes.txt").write_text("not ours")
    args = [str(score_xml), str(source), "-o", str(output), "--inputs", "a,b,c"]
    code, text = _predict(*args, "--overwrite", *NO_CLUSTER)
    assert code == 1
    assert "refusing to replace" in text and "notes.txt" in text and "no dask-openvino job wrote" in text
    assert (output / "notes.txt").read_text() == "not ours"
    (output / "notes.txt").unlink()
    assert _predict(*args, "--overwrite", *scheduler)[0] == 0
    code, text = _predict(*args, "--overwrite", *scheduler)  # a previous output is replaced
    assert code == 0, text
    assert sorted(p.name for p in output.iterdir()) == [
        "_dask_openvino.json",
        "part.00000.parquet",
        "part.00001.parquet",
    ]


def test_unwritable_output_is_a_typed_error_naming_the_path(tmp_path: Path, score_xml: Path) -> None:
    source = _parquet(tmp_path / "in.parquet", _features(10), files=1)
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file")
    for output, reason in (
        (f"{blocker}/scored", f"{blocker} is a file, not a directory"),
        (f"{blocker}/deeper/scored.csv", f"{blocker} is a file, not a directory"),
        ("/proc/dask-openvino/scored", "/proc is not writable"),
    ):
        code, text = _predict(str(score_xml), str(source), "-o", output, "--inputs", "a,b,c", *NO_CLUSTER)
        assert code == 1, text
        assert f"Error: OutputError: cannot write {output}: {reason}" in text, text
        assert "Traceback" not in text


def test_part_names_sort_in_row_order(tmp_path: Path, score_xml: Path, scheduler: list[str]) -> None:
    frame = _features(240)
    source = _parquet(tmp_path / "in.parquet", frame, files=12)
    for output in (tmp_path / "scored.parquet", tmp_path / "scored-csv"):
        extra = ["--output-format", "csv"] if output.name == "scored-csv" else []
        code, text = _predict(str(score_xml), str(source), "-o", str(output), "--inputs", "a,b,c", *extra, *scheduler)
        assert code == 0, text
        parts = sorted(p.name for p in output.glob("part.*"))
        assert parts == [f"part.{n:05d}.{'csv' if extra else 'parquet'}" for n in range(12)]
    # Plain pandas reads the parts in lexical order: that is row order.
    scored = pd.read_parquet(tmp_path / "scored.parquet")
    pd.testing.assert_frame_equal(scored[["a", "b", "c"]].reset_index(drop=True), frame, check_dtype=False)
    csv = pd.concat([pd.read_csv(p) for p in sorted((tmp_path / "scored-csv").glob("part.*"))], ignore_index=True)
    np.testing.assert_allclose(csv["prediction"], frame.to_numpy() @ WEIGHTS, rtol=1e-5, atol=1e-5)


def test_csv_and_tsv_names_give_one_file(tmp_path: Path, score_xml: Path, scheduler: list[str]) -> None:
    frame = _features(90)
    source = _parquet(tmp_path / "in.parquet", frame, files=3)
    expected = frame.to_numpy() @ WEIGHTS
    for name, read in (
        ("scored.csv", pd.read_csv),
        ("scored.tsv.gz", lambda path: pd.read_csv(path, sep="\t")),
        ("scored.parquet", pd.read_parquet),
    ):
        output = tmp_path / name
        extra = ["--single-file"] if name.endswith(".parquet") else []
        code, text = _predict(str(score_xml), str(source), "-o", str(output), "--inputs", "a,b,c", *extra, *scheduler)
        assert code == 0, text
        assert output.is_file(), name
        scored = read(output)
        assert list(scored.columns) == ["a", "b", "c", "prediction"], name
        # CSV keeps no index; Parquet keeps the input parts' own, each from 0, as compute() gives them.
        labels = [*range(30)] * 3 if name.endswith(".parquet") else [*range(90)]
        assert list(scored.index) == labels, name
        np.testing.assert_allclose(scored["prediction"], expected, rtol=1e-5, atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    code, text = _predict(
        str(score_xml), str(source), "-o", str(tmp_path / "dir.csv"), "--inputs", "a,b,c", "--directory", *scheduler
    )
    assert code == 0, text
    assert sorted(p.name for p in (tmp_path / "dir.csv").glob("part.*")) == [f"part.{n:05d}.csv" for n in range(3)]


def test_write_scored_from_python(tmp_path: Path, score_xml: Path) -> None:
    frame = _features(60)
    source = _parquet(tmp_path / "in.parquet", frame, files=3)
    scored = dd.read_parquet(source).ov.predict(str(score_xml), inputs=["a", "b", "c"])
    with dask.config.set(scheduler="sync"):
        written = dask_openvino.write_scored(scored, tmp_path / "out.parquet")
    assert written.files == ("part.00000.parquet", "part.00001.parquet", "part.00002.parquet")
    assert (written.resumed, written.scoring.rows, written.scoring.partitions) == (0, 60, 3)
    np.testing.assert_allclose(
        pd.read_parquet(tmp_path / "out.parquet")["prediction"], frame.to_numpy() @ WEIGHTS, rtol=1e-5
    )
    with pytest.raises(OutputError, match="already exists"):
        dask_openvino.write_scored(scored, tmp_path / "out.parquet")


def test_one_parquet_file_joins_filtered_and_whole_partitions_keeping_their_index(
    tmp_path: Path, score_xml: Path
) -> None:
    # A filtered partition stores its index as a column, a whole one as a range: the parts
    # had two schemas, and the join failed after every partition was scored.
    frame = _features(12)
    ddf = dd.from_pandas(frame, npartitions=3)
    dropped = ddf[ddf["a"] != frame["a"].iloc[2]]
    for name, kept in (("filtered", dropped), ("empty", ddf.loc[0:3]), ("whole", ddf)):
        scored = kept.ov.predict(str(score_xml), inputs=["a", "b", "c"])
        with dask.config.set(scheduler="sync"):
            dask_openvino.write_scored(scored, tmp_path / f"{name}.parquet", single_file=True)
        back = pd.read_parquet(tmp_path / f"{name}.parquet")
        expected = kept.compute()
        assert back.index.tolist() == expected.index.tolist(), name
        np.testing.assert_allclose(back["prediction"], expected.to_numpy() @ WEIGHTS, rtol=1e-5)


def _every_other_row(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.iloc[::2]  # pandas keeps a RangeIndex, of step 2


@pytest.mark.parametrize("single_file", [True, False], ids=["one-file", "directory"])
@pytest.mark.parametrize("case", ["whole-from-100", "every-other-row", "partitions-from-0", "mixed"])
def test_parquet_output_reads_back_with_the_index_compute_gives(
    tmp_path: Path, score_xml: Path, case: str, single_file: bool
) -> None:
    # pandas keeps a RangeIndex as metadata only: read as one data set, parts keeping it so
    # were renumbered 0..N-1 (a directory read by pandas lost a filtered frame's labels).
    frame = _features(12).set_axis(pd.RangeIndex(100, 112))
    ddf = dd.from_pandas(frame, npartitions=3)
    kept = {
        "whole-from-100": lambda: ddf,
        "every-other-row": lambda: ddf.map_partitions(_every_other_row),
        "partitions-from-0": lambda: dd.read_parquet(_parquet(tmp_path / "in.parquet", frame, files=3)),
        "mixed": lambda: ddf[ddf["a"] != frame["a"].iloc[5]],  # the middle part stores its index
    }[case]()
    scored = kept.ov.predict(str(score_xml), inputs=["a", "b", "c"])
    with dask.config.set(scheduler="sync"):
        dask_openvino.write_scored(scored, tmp_path / "out.parquet", single_file=single_file)
        expected = scored.compute()
    assert (tmp_path / "out.parquet").is_dir() != single_file
    back = pd.read_parquet(tmp_path / "out.parquet")
    assert expected.index.is_unique == (case != "partitions-from-0")
    pd.testing.assert_index_equal(back.index, expected.index, exact="equiv")
    pd.testing.assert_frame_equal(back, expected, check_index_type="equiv")


@pytest.mark.parametrize("first", ["empty", "all-null"])
def test_a_parquet_directory_whose_first_part_has_untyped_columns_reads_back(
    tmp_path: Path, score_xml: Path, first: str
) -> None:
    # A reader takes a directory's schema from its first file: an empty first part has no
    # type for its object index and columns, an all-null object column none either
    # (pyarrow writes null), and pandas raised "Unsupported cast from string to null".
    with dask.config.set({"dataframe.convert-string": False}):
        frame = _features(12).set_axis(pd.Index([f"i{i}" for i in range(12)], dtype=object))
        frame["count"] = pd.Series(range(12), index=frame.index, dtype=object)
        frame["note"] = pd.Series([None] * 9 + ["x", "y", "z"], index=frame.index, dtype=object)
        parts = [frame.iloc[:0], frame.iloc[:6], frame.iloc[:0], frame.iloc[6:]]
        if first == "all-null":
            parts = parts[1:]
        ddf = dd.from_delayed([dask.delayed(p) for p in parts], meta=frame.iloc[:0], verify_meta=False)
        scored = ddf.ov.predict(str(score_xml), inputs=["a", "b", "c"])
        with dask.config.set(scheduler="sync"):
            dask_openvino.write_scored(scored, tmp_path / "out.parquet", single_file=False)
    back = pd.read_parquet(tmp_path / "out.parquet")
    assert back.index.tolist() == frame.index.tolist() and back["count"].tolist() == list(range(12))
    assert back["note"].isna().sum() == 9 and back["note"].iloc[9:].tolist() == ["x", "y", "z"]
    np.testing.assert_allclose(back["prediction"], frame[["a", "b", "c"]].to_numpy() @ WEIGHTS, rtol=1e-5)


def test_joining_parquet_parts_takes_the_index_from_a_part_with_rows(tmp_path: Path) -> None:
    fs = fsspec.filesystem("file")

    def join(name: str, *frames: pd.DataFrame) -> Path:
        files = []
        for number, frame in enumerate(frames):
            files.append(str(tmp_path / f"{name}.{number}.parquet"))
            pq.write_table(arrow_table(frame), files[-1])  # as PartWriter writes them
        join_parts(fs, files, str(tmp_path / f"{name}.parquet"), "parquet", meta=_features(0))
        return tmp_path / f"{name}.parquet"

    whole = [_features(2), _features(3)]
    for empty in ("object", "str"):  # an empty part's index type says nothing about the others'
        first = _features(0).set_axis(pd.Index([], dtype=empty))
        back = pd.read_parquet(join(empty, first, *whole))
        assert back.index.tolist() == [0, 1, 0, 1, 2] and back.index.dtype == np.int64, empty
    labelled = _features(1).set_axis(pd.Index(["x"]))
    refused = r"str\.0\.parquet stores an index of large_string and str\.1\.parquet an index of int64"
    with pytest.raises(OutputError, match=refused):
        join("str", labelled, *whole)
    named = _features(2).rename_axis("id")  # same type, another name: not a KeyError half-way through the join
    refused = r"named\.0\.parquet stores an index of int64 and named\.1\.parquet the index 'id' of int64"
    with pytest.raises(OutputError, match=refused):
        join("named", _features(2), named)
    # A column all null in one part takes the others' type; two types are refused, not cast.
    unknown = pd.DataFrame({"label": [None, None]}, dtype=object)
    back = pd.read_parquet(join("null", unknown, pd.DataFrame({"label": ["x", "y"]})))
    assert back["label"].isna().tolist() == [True, True, False, False] and back["label"].iloc[2:].tolist() == ["x", "y"]
    lists = [pd.DataFrame({"v": pd.Series([[]], dtype=object)}), pd.DataFrame({"v": pd.Series([[1, 2]], dtype=object)})]
    assert pd.read_parquet(join("lists", *lists))["v"].map(list).tolist() == [[], [1, 2]]  # list<null>, list<int64>
    # Structs of different fields are refused, not merged into one with nulls filled in.
    structs = [pd.DataFrame({"v": pd.Series([{key: 1}], dtype=object)}) for key in "ab"]
    with pytest.raises(OutputError, match=r"column .v. is struct<a: int64> in structs\.0\.parquet and struct<b"):
        join("structs", *structs)
    with pytest.raises(OutputError, match=r"column 'label' is int64 in typed\.0\.parquet and large_string in typed\.1"):
        join("typed", pd.DataFrame({"label": [1, 2]}), pd.DataFrame({"label": ["3", "4"]}))
    # A part that keeps a RangeIndex as metadata only (as dask-openvino wrote them before) is refused, not renumbered.
    files = [str(tmp_path / "old.0.parquet")]
    pq.write_table(pa.Table.from_pandas(_features(2).set_axis(pd.RangeIndex(5, 7))), files[0])
    with pytest.raises(OutputError, match=r"old\.0\.parquet: it keeps its index as metadata only"):
        join_parts(fs, files, str(tmp_path / "old.parquet"), "parquet")
    back = pd.read_parquet(join("none"))  # no parts: an empty file with meta's columns, not 0 bytes
    assert back.columns.tolist() == ["a", "b", "c"] and len(back) == 0


def test_zip_output_is_refused_and_zip_input_read_as_csv(tmp_path: Path, score_xml: Path) -> None:
    source = _parquet(tmp_path / "in.parquet", _features(10), files=1)
    output = tmp_path / "scored.csv.zip"
    code, text = _predict(str(score_xml), str(source), "-o", str(output), "--inputs", "a,b,c", *NO_CLUSTER)
    assert code == 1, text
    assert f"Error: OutputError: cannot write {output}: .zip is read but not written" in text, text
    assert ".gz, .bz2, .xz, .zst" in text
    assert not output.exists()
    assert format_of("in.csv.zip", "auto") == "csv"  # input: Dask reads a zip holding one CSV file


def test_a_part_task_outliving_its_job_writes_nothing() -> None:
    fs = fsspec.filesystem("memory")  # like an object store: writing a file creates its "directory"
    staging = "/out/.scored.parquet.dask-openvino-partial"
    writer = PartWriter(fs, staging, "parquet", ",", True, None, "key", 5)
    frame = _features(4)
    fs.pipe(f"{staging}/_dask_openvino.json", b'{"key": "key"}')
    assert writer(frame, 0)["file"] == "part.00000.parquet"
    fs.rm(staging, recursive=True)  # the job was cancelled
    with pytest.raises(OutputError, match=r"_dask_openvino\.json is gone or another job's"):
        writer(frame, 1)
    assert not fs.exists(staging) and fs.find("/out") == []
    # Another job has since started in the same staging directory: the late task writes nothing there.
    fs.pipe(f"{staging}/_dask_openvino.json", b'{"key": "another"}')
    with pytest.raises(OutputError, match=r"another job's"):
        writer(frame, 2)
    assert fs.find(staging) == [f"{staging}/_dask_openvino.json"]


@pytest.mark.cluster
@pytest.mark.slow
def test_sigterm_cancels_and_leaves_no_output(tmp_path: Path, score_xml: Path, scheduler: list[str]) -> None:
    source = _parquet(tmp_path / "in.parquet", _features(40_000), files=40)
    output = tmp_path / "scored.parquet"
    script = Path(sys.executable).parent / "dask-openvino"
    command = [str(script), "predict", str(score_xml), str(source), "-o", str(output), "--inputs", "a,b,c"]
    process = subprocess.Popen(
        [*command, "--batch-size", "1", *scheduler], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_for_files(process, tmp_path, ".scored.parquet.dask-openvino-partial/part.*")
        os.kill(process.pid, signal.SIGTERM)
        text, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, text
    assert "Interrupted" in text and "no output was written" in text
    assert "Traceback" not in text
    assert not output.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if "dask-openvino" in p.name) == []


def test_removing_a_staging_directory_survives_a_file_renamed_while_it_is_walked(tmp_path: Path) -> None:
    # A cancelled part task renaming its temporary file while the tree is removed makes the
    # walk stop with FileNotFoundError half-way; the directory must still end up removed.
    from fsspec.implementations.local import LocalFileSystem

    staging = tmp_path / ".scored.parquet.dask-openvino-partial"
    (staging / "_parts").mkdir(parents=True)
    for n in range(3):
        (staging / f"part.{n:05d}.parquet").write_bytes(b"x")
    fs = LocalFileSystem()
    calls: list[str] = []

    class Racing(LocalFileSystem):  # type: ignore[misc]
        def rm(self, path: str, recursive: bool = False, maxdepth: int | None = None) -> None:
            calls.append(path)
            if len(calls) == 1:
                (staging / "part.00000.parquet").unlink()
                raise FileNotFoundError(str(staging / "part.00000.parquet"))
            fs.rm(path, recursive=recursive)

    remove_tree(Racing(), str(staging))
    assert not staging.exists()
    assert len(calls) == 2
