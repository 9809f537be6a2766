from __future__ import annotations

import inspect
import pickle
from collections.abc import Callable

import cloudpickle
import pytest

import dask_openvino
from dask_openvino import errors
from dask_openvino.errors import openvino_message

REFINES = {
    errors.ModelLoadError: OSError,
    errors.ModelChangedError: RuntimeError,
    errors.InputSchemaError: ValueError,
    errors.InputNotFoundError: FileNotFoundError,
    errors.InputValueError: ValueError,
    errors.UnsupportedElementTypeError: TypeError,
    errors.InferenceError: RuntimeError,
    errors.JobCancelledError: RuntimeError,
    errors.ConversionError: RuntimeError,
    errors.InputReadError: OSError,
    errors.MissingDependencyError: ImportError,
    errors.VersionMismatchError: RuntimeError,
    errors.OutputError: OSError,
    errors.ResumeMismatchError: OSError,
    errors.SchedulerConnectionError: OSError,
    errors.SettingError: ValueError,
}


def test_every_error_class_is_listed_and_exported() -> None:
    classes = {obj for _, obj in inspect.getmembers(errors, inspect.isclass) if issubclass(obj, Exception)}
    assert classes == {errors.DaskOpenVINOError, *REFINES}
    for cls in classes:
        assert cls.__name__ in errors.__all__ and getattr(dask_openvino, cls.__name__) is cls


@pytest.mark.parametrize(("error", "builtin"), REFINES.items(), ids=lambda c: c.__name__)
def test_each_error_refines_its_builtin_and_the_base(error: type[Exception], builtin: type[Exception]) -> None:
    assert issubclass(error, errors.DaskOpenVINOError) and issubclass(error, builtin)
    with pytest.raises(builtin, match="what went wrong"):
        raise error("what went wrong")


def test_the_module_docstring_draws_the_whole_tree() -> None:
    doc = errors.__doc__ or ""
    for error, builtin in REFINES.items():
        assert f"{error.__name__}" in doc and f"(also {builtin.__name__})" in doc


def test_openvino_message_drops_source_locations_and_keeps_every_meaningful_line() -> None:
    err = RuntimeError(
        "Exception from src/inference/src/cpp/infer_request.cpp:223:\n"
        "Exception from src/plugins/intel_cpu/src/node.cpp:792:\n"
        "[CPU] GatherElements node with name 'g' has invalid index\n"
        "  at row 3\n"
    )
    assert openvino_message(err) == "[CPU] GatherElements node with name 'g' has invalid index at row 3"
    assert openvino_message(err, sep="\n").splitlines() == [
        "[CPU] GatherElements node with name 'g' has invalid index",
        "at row 3",
    ]
    assert openvino_message(RuntimeError("")) == "RuntimeError('')"


def test_openvino_message_drops_source_locations_inside_a_line_too() -> None:
    err = RuntimeError(
        "Caught exception: Exception from src/plugins/intel_cpu/src/graph.cpp:1628:\n"
        "Node g of type GatherElements Check 'index < n' failed at src/plugins/intel_cpu/src/nodes/gather.cpp:116:\n"
        "indices values of GatherElement exceed data size\n"
    )
    assert openvino_message(err) == (
        "Node g of type GatherElements Check 'index < n' failed: indices values of GatherElement exceed data size"
    )


class _BatchError(errors.InferenceError):
    """A subclass, to check that pickling keeps an error's own class."""


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
@pytest.mark.parametrize("kind", [errors.InferenceError, _BatchError])
def test_an_inference_error_keeps_its_class_and_span_when_pickled(
    dumps: Callable[[object], bytes], kind: type[errors.InferenceError]
) -> None:
    # Distributed sends a worker's exception back with cloudpickle; a custom reducer once
    # rebuilt every subclass as InferenceError.
    back = pickle.loads(dumps(kind("OpenVINO failed on rows 8..15: x", span=(8, 15))))
    assert type(back) is kind
    assert (str(back), back.span) == ("OpenVINO failed on rows 8..15: x", (8, 15))


def test_errors_with_attributes_keep_them_when_pickled_back_from_a_worker() -> None:
    values = pickle.loads(pickle.dumps(errors.InputValueError("column 'a' ...", reason="a is null")))
    assert (str(values), values.reason, values.rows) == ("column 'a' ...", "a is null", None)
    versions = pickle.loads(pickle.dumps(errors.VersionMismatchError("differs", {"scheduler": "0.0.1"})))
    assert versions.differing == {"scheduler": "0.0.1"}
