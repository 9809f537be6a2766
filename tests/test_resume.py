"""Resumable jobs: a killed `dask-openvino predict` resumed with `--resume` equals a clean run row for row."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from distributed import LocalCluster
from fsspec.implementations.local import LocalFileSystem

import dask_openvino
import model_factory
from _jobs import wait_for_files
from dask_openvino import OutputError, ResumeMismatchError
from dask_openvino.cli import main

NO_CLUSTER = ["--scheduler", "tcp://127.0.0.1:1"]
PARTS = 40


@pytest.fixture(scope="module")
def scheduler() -> Iterator[list[str]]:
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        yield ["--scheduler", cluster.scheduler_address]


def _source(directory: Path, rows: int, files: int) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, 3)).astype(np.float32), columns=["a", "b", "c"])
    directory.mkdir()
    for number, part in enumerate(np.array_split(np.arange(rows), files)):
        frame.iloc[part].reset_index(drop=True).to_parquet(directory / f"part.{number}.parquet")
    return directory


def _predict(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["predict", *args], catch_exceptions=False)
    return result.exit_code, result.output


def _kill_after_some_parts(command: list[str], staging: Path, parts: int) -> None:
    """Run the CLI on its own local cluster and SIGKILL it and its workers once `parts` parts are written."""
    # Its own session: the process group holds the command and the worker processes it starts.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_files(process, staging, "_parts/*.json", parts)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


@pytest.mark.cluster
@pytest.mark.slow
def test_killed_job_resumes_and_equals_a_clean_run(tmp_path: Path, score_xml: Path, scheduler: list[str]) -> None:
    source = _source(tmp_path / "in.parquet", rows=PARTS * 500, files=PARTS)
    job = [str(score_xml), str(source), "--inputs", "a,b,c", "--batch-size", "1"]
    clean, resumed = tmp_path / "clean.parquet", tmp_path / "resumed.parquet"
    assert _predict(*job, "-o", str(clean), *scheduler)[0] == 0

    staging = tmp_path / ".resumed.parquet.dask-openvino-partial"
    script = Path(sys.executable).parent / "dask-openvino"
    local = ["--workers", "1", "--threads-per-worker", "1", "--dashboard-address", ":0"]
    _kill_after_some_parts([str(script), "predict", *job, "-o", str(resumed), *local], staging, parts=3)
    assert not resumed.exists()
    # A part counts once its record is written: a kill between a part's file and its record
    # leaves a file that the resumed run writes again.
    records = [json.loads(record.read_text()) for record in staging.glob("_parts/*.json")]
    kept = {r["file"]: (staging / r["file"]).stat().st_ino for r in records}
    assert 3 <= len(kept) < PARTS, kept

    # Another model or other options may not finish these parts; the refusal names what differs.
    other = model_factory.linear(tmp_path / "other.xml")
    code, text = _predict(str(other), str(source), "--inputs", "x=a+b+c", "-o", str(resumed), "--resume", *NO_CLUSTER)
    assert code == 1
    assert "ResumeMismatchError" in text and "models[0].fingerprint: written with" in text
    code, text = _predict(*job[:-1], "7", "-o", str(resumed), "--resume", *NO_CLUSTER)
    assert code == 1 and "options[0].batch_size: written with 1, now 7" in text.replace("'", "")

    code, text = _predict(*job, "-o", str(resumed), "--resume", *scheduler)
    assert code == 0, text
    assert f"Resumed: {len(kept)} of {PARTS} parts kept" in text
    assert f"partitions     {PARTS - len(kept)}" in text
    # The parts kept are the very files the killed run wrote, not rewritten copies.
    assert {name: (resumed / name).stat().st_ino for name in kept} == kept
    assert sorted(p.name for p in resumed.iterdir()) == sorted(p.name for p in clean.iterdir())
    pd.testing.assert_frame_equal(pd.read_parquet(resumed), pd.read_parquet(clean))
    manifest = json.loads((resumed / "_dask_openvino.json").read_text())
    assert [p["partition"] for p in manifest["parts"]] == list(range(PARTS))
    assert manifest["job"]["models"][0]["fingerprint"] == dask_openvino.ModelSpec.from_path(score_xml).fingerprint

    # Resuming a finished job writes nothing and succeeds.
    code, text = _predict(*job, "-o", str(resumed), "--resume", *scheduler)
    assert code == 0, text
    assert f"Resumed: {PARTS} of {PARTS} parts kept" in text


def _fail_in_partition(frame: pd.DataFrame, failing: int, partition_info: dict[str, int] | None = None) -> pd.DataFrame:
    if partition_info is not None and partition_info["number"] == failing:
        raise ValueError(f"partition {failing} failed")
    return frame


def test_resume_from_python_scores_only_the_missing_partitions(tmp_path: Path, score_xml: Path) -> None:
    source = _source(tmp_path / "in.parquet", rows=50, files=5)
    output = tmp_path / "scored.csv"
    scored = dd.read_parquet(source).ov.predict(str(score_xml), inputs=["a", "b", "c"])
    staging = tmp_path / ".scored.csv.dask-openvino-partial"
    with dask.config.set(scheduler="sync"):
        # A run that fails part-way, with resume: the parts it wrote are kept for the next run.
        failing = scored.map_partitions(_fail_in_partition, 2, meta=scored._meta)
        with pytest.raises(ValueError, match="partition 2 failed"):
            dask_openvino.write_scored(failing, output, resume=True)
        kept = sorted(p.name for p in staging.glob("part.*"))
        assert "part.00002.csv" not in kept
        with pytest.raises(ResumeMismatchError, match=r"options\[0\]\.batch_size: written with None, now 3"):
            other = dd.read_parquet(source).ov.predict(str(score_xml), inputs=["a", "b", "c"], batch_size=3)
            dask_openvino.write_scored(other, output, resume=True)
        written = dask_openvino.write_scored(scored, output, resume=True)
    assert (written.resumed, written.scoring.partitions) == (len(kept), 5 - len(kept))
    assert written.scoring.rows == 10 * (5 - len(kept))
    assert output.is_file() and not staging.exists()
    expected = pd.read_parquet(source).to_numpy() @ np.array([1.0, 2.0, 3.0], np.float32)
    np.testing.assert_allclose(pd.read_csv(output)["prediction"], expected, rtol=1e-5, atol=1e-5)


def test_parquet_parts_of_a_version_that_kept_the_index_as_metadata_are_not_resumed(
    tmp_path: Path, score_xml: Path
) -> None:
    # Parts written before the index was stored as a column cannot be joined with new ones:
    # a job record without the parts' layout is another job's, refused before any scoring.
    source = _source(tmp_path / "in.parquet", rows=50, files=5)
    output = tmp_path / "scored.parquet"
    scored = dd.read_parquet(source).ov.predict(str(score_xml), inputs=["a", "b", "c"])
    manifest = tmp_path / ".scored.parquet.dask-openvino-partial" / "_dask_openvino.json"
    with dask.config.set(scheduler="sync"):
        failing = scored.map_partitions(_fail_in_partition, 2, meta=scored._meta)
        with pytest.raises(ValueError, match="partition 2 failed"):
            dask_openvino.write_scored(failing, output, single_file=True, resume=True)
        written = json.loads(manifest.read_text())
        assert written["job"].pop("parts") == "index stored as a column"
        manifest.write_text(json.dumps(written))
        refused = r"parts: written with \(not recorded\), now index stored as a column"
        with pytest.raises(ResumeMismatchError, match=refused):
            dask_openvino.write_scored(scored, output, single_file=True, resume=True)
        assert not output.exists()


def _stop_renaming_staging(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make renaming a staging directory into place raise `KeyboardInterrupt`, as a Ctrl-C there would."""
    move = LocalFileSystem.mv

    def interrupted(self: LocalFileSystem, source: str, *args: Any, **kwargs: Any) -> None:
        if source.endswith(".dask-openvino-partial"):  # not an old output moved aside (...-partial-old)
            raise KeyboardInterrupt
        move(self, source, *args, **kwargs)

    monkeypatch.setattr(LocalFileSystem, "mv", interrupted)


def test_overwrite_interrupted_between_the_two_renames_keeps_both_outputs(
    tmp_path: Path, score_xml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "scored.parquet"
    staging = tmp_path / ".scored.parquet.dask-openvino-partial"
    previous = tmp_path / ".scored.parquet.dask-openvino-partial-old"
    old = dd.read_parquet(_source(tmp_path / "old.parquet", rows=20, files=2))
    new = dd.read_parquet(_source(tmp_path / "new.parquet", rows=30, files=3))
    with dask.config.set(scheduler="sync"):
        dask_openvino.write_scored(old.ov.predict(str(score_xml), inputs=["a", "b", "c"]), output)
        scored = new.ov.predict(str(score_xml), inputs=["a", "b", "c"])
        _stop_renaming_staging(monkeypatch)  # the new output, after the old one was moved aside
        with pytest.raises(KeyboardInterrupt):
            dask_openvino.write_scored(scored, output, overwrite=True)
        monkeypatch.undo()
        # The old output is back, the new one kept whole beside it: resuming renames it, scoring nothing.
        assert sorted(p.name for p in output.glob("part.*")) == ["part.00000.parquet", "part.00001.parquet"]
        assert sorted(p.name for p in staging.glob("part.*")) == [f"part.{n:05d}.parquet" for n in range(3)]
        assert not previous.exists()
        written = dask_openvino.write_scored(scored, output, overwrite=True, resume=True)
    assert (written.resumed, written.scoring.partitions) == (3, 0)
    assert sorted(p.name for p in output.iterdir()) == ["_dask_openvino.json"] + [
        f"part.{n:05d}.parquet" for n in range(3)
    ]
    assert not staging.exists() and not previous.exists()


def test_a_previous_output_left_aside_by_a_killed_run_is_restored_or_removed(tmp_path: Path, score_xml: Path) -> None:
    output = tmp_path / "scored.parquet"
    previous = tmp_path / ".scored.parquet.dask-openvino-partial-old"
    scored = _scored(tmp_path, score_xml, rows=20, files=2)
    parts = ["_dask_openvino.json", "part.00000.parquet", "part.00001.parquet"]
    with dask.config.set(scheduler="sync"):
        dask_openvino.write_scored(scored, output)
        # Killed after moving the old output aside: it is put back, and counts as existing.
        output.rename(previous)
        with pytest.raises(OutputError, match="already exists"):
            dask_openvino.write_scored(scored, output)
        assert sorted(p.name for p in output.iterdir()) == parts and not previous.exists()
        # Killed after renaming the new output into place: the old one is removed, not moved into.
        shutil.copytree(output, previous)
        dask_openvino.write_scored(scored, output, overwrite=True)
    assert sorted(p.name for p in output.iterdir()) == parts and not previous.exists()


def test_an_output_refused_is_refused_before_a_killed_runs_leftovers_are_touched(
    tmp_path: Path, score_xml: Path
) -> None:
    output = tmp_path / "scored.parquet"
    previous = tmp_path / ".scored.parquet.dask-openvino-partial-old"
    scored = _scored(tmp_path, score_xml, rows=20, files=2)
    with dask.config.set(scheduler="sync"):
        dask_openvino.write_scored(scored, output)
        output.rename(previous)  # killed after moving the old output aside
        with pytest.raises(OutputError, match="it is the input"):
            dask_openvino.write_scored(scored, output, protect=[str(output / "*.parquet")])
    assert previous.is_dir() and not output.exists()


def _scored(tmp_path: Path, score_xml: Path, *, rows: int, files: int) -> dd.DataFrame:
    """The scores of `rows` rows written as `files` Parquet files under `tmp_path`."""
    return dd.read_parquet(_source(tmp_path / "in.parquet", rows=rows, files=files)).ov.predict(
        str(score_xml), inputs=["a", "b", "c"]
    )


def _interrupted_first_swap(scored: dd.DataFrame, output: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Write `scored` to a new `output`, stopped just before its staging directory is renamed into place."""
    _stop_renaming_staging(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        dask_openvino.write_scored(scored, output, resume=True)
    monkeypatch.undo()


@pytest.mark.parametrize(
    "moved", [["part.00000.parquet", "part.00001.parquet"], ["_dask_openvino.json", "part.00000.parquet"]]
)
def test_resume_after_an_object_store_rename_stopped_half_way_scores_what_moved(
    tmp_path: Path, score_xml: Path, monkeypatch: pytest.MonkeyPatch, moved: list[str]
) -> None:
    # An object store renames a directory file by file: a stopped rename leaves some files in
    # the output and the rest in the staging directory (the record among either). Resuming
    # must not swap in the staging directory as if it were whole.
    output = tmp_path / "scored.parquet"
    staging = tmp_path / ".scored.parquet.dask-openvino-partial"
    scored = _scored(tmp_path, score_xml, rows=30, files=3)
    with dask.config.set(scheduler="sync"):
        clean = tmp_path / "clean.parquet"
        dask_openvino.write_scored(scored, clean)
        _interrupted_first_swap(scored, output, monkeypatch)
        output.mkdir()
        for name in moved:
            (staging / name).rename(output / name)
        # A part the stopped run was writing again when it was killed.
        (staging / ".part.00000.parquet.0123456789ab.tmp").write_bytes(b"half")
        written = dask_openvino.write_scored(scored, output, overwrite=True, resume=True)
    parts = sum(name.startswith("part.") for name in moved)
    # Parts still staged are kept; what moved is scored again (all of it once the record moved).
    expected_resumed = 3 - parts if "_dask_openvino.json" not in moved else 0
    assert (written.resumed, written.scoring.partitions) == (expected_resumed, 3 - expected_resumed)
    assert sorted(p.name for p in output.iterdir()) == sorted(p.name for p in clean.iterdir())
    pd.testing.assert_frame_equal(pd.read_parquet(output), pd.read_parquet(clean))
    assert not staging.exists()


def test_resuming_a_finished_output_that_lost_a_part_refuses_or_scores_it_again(
    tmp_path: Path, score_xml: Path
) -> None:
    output = tmp_path / "scored.parquet"
    scored = _scored(tmp_path, score_xml, rows=20, files=2)
    with dask.config.set(scheduler="sync"):
        dask_openvino.write_scored(scored, output)
        expected = pd.read_parquet(output)
        (output / "part.00001.parquet").unlink()
        with pytest.raises(OutputError, match=r"lists 1 part\(s\) it does not hold \(part\.00001\.parquet\)"):
            dask_openvino.write_scored(scored, output, resume=True)
        written = dask_openvino.write_scored(scored, output, overwrite=True, resume=True)
    assert (written.resumed, written.scoring.partitions) == (0, 2)
    pd.testing.assert_frame_equal(pd.read_parquet(output), expected)


@pytest.mark.cluster
def test_ctrl_c_while_replacing_an_output_says_where_the_new_one_is(
    tmp_path: Path, score_xml: Path, scheduler: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # On an object store the swap copies every part: a Ctrl-C or SIGTERM in it is not rare.
    output = tmp_path / "scored.parquet"
    staging = tmp_path / ".scored.parquet.dask-openvino-partial"
    job = ["--inputs", "a,b,c", "-o", str(output), *scheduler]
    assert _predict(str(score_xml), str(_source(tmp_path / "old.parquet", rows=20, files=2)), *job)[0] == 0
    new = str(_source(tmp_path / "new.parquet", rows=30, files=3))
    _stop_renaming_staging(monkeypatch)
    code, text = _predict(str(score_xml), new, *job, "--overwrite")
    monkeypatch.undo()
    assert code == 130, text
    assert f"{output} was not replaced; the new output is complete in {staging}: " in text
    assert "--resume --overwrite puts it in place without scoring" in text
    assert len(list(output.glob("part.*"))) == 2
    code, text = _predict(str(score_xml), new, *job, "--overwrite", "--resume")
    assert code == 0, text
    assert "Resumed: 3 of 3 parts kept" in text
    assert len(pd.read_parquet(output)) == 30 and not staging.exists()
