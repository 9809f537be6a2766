from __future__ import annotations

import inspect

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
