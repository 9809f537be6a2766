"""The public surface: everything exported is documented, and nothing public is left out."""

from __future__ import annotations

import inspect
import types

import dask_openvino


def test_all_names_exist_and_are_unique() -> None:
    assert len(set(dask_openvino.__all__)) == len(dask_openvino.__all__)
    for name in dask_openvino.__all__:
        assert hasattr(dask_openvino, name), name


def test_public_module_level_names_are_exported() -> None:
    public = {
        name
        for name, value in vars(dask_openvino).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert public == set(dask_openvino.__all__) - {"__version__"}


def test_every_export_has_a_numpy_style_docstring() -> None:
    for name in dask_openvino.__all__:
        value = getattr(dask_openvino, name)
        if isinstance(value, str):
            continue
        doc = inspect.getdoc(value)
        assert doc, f"{name} has no docstring"
        if inspect.isfunction(value) and inspect.signature(value).parameters:
            assert "Parameters\n----------" in doc, f"{name} documents no parameters"


def test_importing_does_not_import_optional_frameworks() -> None:
    import subprocess
    import sys

    code = (
        "import sys, dask_openvino; "
        "print(sorted(m for m in ('nncf', 'onnx', 'skl2onnx', 'sklearn', 'torch', 'PIL', 'tokenizers') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
