from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import model_factory
from dask_openvino import InferenceError, InputSchemaError, ModelSpec, get_engine
from dask_openvino.engine import Chunk
from dask_openvino.transforms import BatchReshape


def test_results_are_float32_exact_by_default(linear_xml: Path) -> None:
    x = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    y = get_engine(ModelSpec.from_path(linear_xml)).run({"x": x})["y"]
    expected = x.astype(np.float64) @ model_factory.LINEAR_WEIGHTS + model_factory.LINEAR_BIAS
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


def test_feeds_are_checked(linear_xml: Path) -> None:
    engine = get_engine(ModelSpec.from_path(linear_xml))
    with pytest.raises(InputSchemaError, match=r"missing \['x'\]; unknown \['z'\]"):
        engine.run({"z": np.ones((2, 3), np.float32)})
    with pytest.raises(InputSchemaError, match=r"expects dimension 1 = 3"):
        engine.run({"x": np.ones((2, 4), np.float32)})
    with pytest.raises(InputSchemaError, match=r"expects rank 2"):
        engine.run({"x": np.ones((2, 3, 1), np.float32)})
    assert engine.run({"x": np.ones((0, 3), np.float32)})["y"].shape == (0, 2)


def _expected(x: np.ndarray) -> np.ndarray:
    return x @ model_factory.LINEAR_WEIGHTS + model_factory.LINEAR_BIAS


@pytest.mark.parametrize("static", [False, True])
def test_chunks_of_any_size_give_the_result_of_one_call(linear_xml: Path, static8_xml: Path, static: bool) -> None:
    engine = get_engine(ModelSpec.from_path(static8_xml if static else linear_xml))
    x = np.random.default_rng(0).random((53, 3), dtype=np.float32)
    bounds = [0, 5, 21, 22, 40, 53]  # chunks of 5, 16, 1, 18, 13 rows: none a whole number of batches of 8
    taken: list[int] = []

    def chunks() -> Iterator[Chunk]:
        for start, stop in itertools.pairwise(bounds):
            taken.append(start)
            yield slice(start, stop), {"x": x[start:stop]}

    result, failures = engine.run_chunks(chunks(), len(x), batch_size=8)
    assert failures == {}
    np.testing.assert_allclose(result["y"], engine.run({"x": x}, batch_size=8)["y"], rtol=0, atol=0)
    np.testing.assert_allclose(result["y"], _expected(x), rtol=1e-5, atol=1e-5)
    assert taken == bounds[:-1]
    assert engine.request_count == engine.requests_per_call  # every borrowed request came back


def test_default_batches_are_even_and_keep_every_request_busy(linear_xml: Path) -> None:
    engine = get_engine(ModelSpec.from_path(linear_xml))
    requests, default = engine.requests_per_call, engine.default_batch
    for n_rows in (default * requests * 3 + 5, default * 25 + 1, default * requests, default + 1):
        batch = engine.batch_rows(n_rows)
        batches = -(-n_rows // batch)
        last = n_rows - (batches - 1) * batch
        assert batch <= default
        assert batches % requests == 0, (n_rows, batch)  # no request idles while the others finish the call
        assert last >= batch - batches, (n_rows, batch, last)  # the last batch is not a short tail
    assert engine.batch_rows(3) == -(-3 // requests)  # a small call is split across the requests
    assert engine.batch_rows(default * 10, batch_size=7) == 7


def test_chunks_write_to_their_rows_and_uncovered_rows_hold_zeros(linear_xml: Path) -> None:
    engine = get_engine(ModelSpec.from_path(linear_xml))
    x = np.random.default_rng(5).random((6, 3), dtype=np.float32)
    positions = np.array([5, 0, 3])
    outputs, _ = engine.run_chunks([(positions, {"x": x[positions]})], 6, zeros=True)
    np.testing.assert_allclose(outputs["y"][positions], _expected(x[positions]), rtol=1e-5, atol=1e-5)
    assert not outputs["y"][[1, 2, 4]].any()
    with pytest.raises(InputSchemaError, match=r"expects dimension 1 = 3"):
        engine.run_chunks([(slice(0, 6), {"x": x}), (slice(6, 8), {"x": np.ones((2, 4), np.float32)})], 8)
    assert engine.run_chunks([(slice(0, 0), {"x": x[:0]})], 0)[0]["y"].shape == (0, 2)


def test_ragged_chunks_fill_the_leading_part_of_each_row(model_dir: Path) -> None:
    xml = model_factory.identity(model_dir / "identity_tokens.xml", [-1, -1], "i32")
    engine = get_engine(ModelSpec.from_path(xml))
    wide, narrow = np.arange(8, dtype=np.int32).reshape(2, 4) + 1, np.full((1, 2), 9, np.int32)
    outputs, _ = engine.run_chunks([(np.array([2, 0]), {"x": wide}), (np.array([1]), {"x": narrow})], 3, ragged=True)
    np.testing.assert_array_equal(outputs["y"], [[5, 6, 7, 8], [9, 9, 0, 0], [1, 2, 3, 4]])
    with pytest.raises(InferenceError, match=r"output 'y' changed shape between batches"):
        engine.run_chunks([(np.array([0]), {"x": narrow}), (np.array([1]), {"x": wide[:1]})], 2, ragged=True)


def test_non_contiguous_inputs_give_the_results_of_contiguous_ones(linear_xml: Path, static8_xml: Path) -> None:
    x = np.random.default_rng(1).random((29, 3), dtype=np.float32)
    for xml in (linear_xml, static8_xml):
        engine = get_engine(ModelSpec.from_path(xml))
        expected = engine.run({"x": x}, batch_size=8)["y"]
        for layout in (np.asfortranarray(x), x.T.copy().T, np.repeat(x, 2, axis=0)[::2]):
            assert not layout.flags.c_contiguous
            np.testing.assert_array_equal(engine.run({"x": layout}, batch_size=8)["y"], expected)


def test_requests_of_a_retired_compiled_model_are_not_reused(linear_xml: Path) -> None:
    engine = get_engine(ModelSpec.from_path(linear_xml), BatchReshape(4))
    compiled, requests = engine._borrow_requests(2)
    engine._recover_from_failure(compiled)  # another call's inference failed meanwhile
    engine._return_requests(compiled, requests)
    assert engine.compiled is not compiled and engine.request_count == 0


def test_a_call_running_while_another_fails_is_run_again_on_the_new_model(one_hot_xml: Path) -> None:
    # A failed inference can leave its compiled model returning wrong results to its other
    # requests; a call that was running on it then runs again on the recompiled model.
    engine = get_engine(ModelSpec.from_path(one_hot_xml))
    good = (np.arange(64, dtype=np.int32) % 10).reshape(64, 1)
    failed_once: list[bool] = []

    def chunks() -> Iterator[Chunk]:
        yield slice(0, 32), {"ids": good[:32]}
        if not failed_once:
            failed_once.append(True)
            with pytest.raises(InferenceError):
                engine.run({"ids": np.full((4, 1), 10, np.int32)})
        yield slice(32, 64), {"ids": good[32:]}

    class Again:
        def __iter__(self) -> Iterator[Chunk]:
            return chunks()

    outputs, _ = engine.run_chunks(Again(), 64, batch_size=8)
    np.testing.assert_array_equal(outputs["onehot"].argmax(axis=1), good[:, 0])
    assert engine.recompiles == 1 and engine.request_count == engine.requests_per_call


@pytest.mark.parametrize(
    ("rows", "where", "contiguous"),
    [(np.array([5, 3, 4, 6]), "rows 3..6", True), (np.array([7, 1, 5, 3]), "rows between 1 and 7", False)],
)
def test_a_failing_batch_of_positions_names_its_first_and_last_and_whether_it_skips_rows(
    one_hot_xml: Path, rows: np.ndarray, where: str, contiguous: bool
) -> None:
    engine = get_engine(ModelSpec.from_path(one_hot_xml))
    with pytest.raises(InferenceError, match=f"^OpenVINO failed on {where}: ") as info:
        engine.run_chunks([(rows, {"ids": np.full((4, 1), 10, np.int32)})], 8, batch_size=4)
    assert (info.value.span, info.value.contiguous) == ((rows.min(), rows.max()), contiguous)


def test_isolation_costs_nothing_when_every_row_succeeds(one_hot_xml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = get_engine(ModelSpec.from_path(one_hot_xml))
    ids = (np.arange(50, dtype=np.int32) % 10).reshape(50, 1)

    def no_bisection(*args: object) -> None:
        raise AssertionError("rows were run one batch at a time although no batch failed")

    monkeypatch.setattr(engine, "_bisect", no_bisection)
    outputs, failures = engine.run_chunks([(slice(0, 50), {"ids": ids})], 50, isolate=True)
    assert failures == {}
    np.testing.assert_array_equal(outputs["onehot"].argmax(axis=1), ids[:, 0])
    assert engine.recompiles == 0
