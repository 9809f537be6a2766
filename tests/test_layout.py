"""Channels-last rows into a channels-first input: refused by their shape, or transposed in the model (input_layout)."""

from __future__ import annotations

from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import openvino as ov
import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner
from openvino import opset13 as ops

import dask_openvino
import model_factory
from dask_openvino import InputSchemaError
from dask_openvino.cli import main

CHANNELS = np.array([1.0, 10.0, 100.0], np.float32)
FIXED = pa.list_(pa.list_(pa.list_(pa.float32(), 3), 5), 4)
"""Rows of shape [4, 5, 3] (H, W, C) as nested fixed-size lists: the shape is in ``meta``."""
VARIABLE = pa.list_(pa.list_(pa.list_(pa.float32())))
"""The same rows as nested variable-size lists: the shape shows only in the values."""


@pytest.fixture(scope="module")
def nchw_xml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``y[?, 3, 4, 5] = x * [1, 10, 100]`` per channel of ``x[?, 3, 4, 5]``: channels must land on C."""
    x = ops.parameter([-1, 3, 4, 5], np.float32, name="x")
    y = ops.multiply(x, ops.constant(CHANNELS.reshape(1, 3, 1, 1)))
    y.output(0).get_tensor().set_names({"y"})
    return model_factory.save(ov.Model([y.output(0)], [x], "nchw"), tmp_path_factory.mktemp("layout") / "nchw.xml")


def images(rows: int = 6) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(rows, 4, 5, 3)).astype(np.float32)


def expected(nhwc: np.ndarray) -> np.ndarray:
    """The model's output for channels-last images, computed with numpy in float32."""
    return (nhwc.transpose(0, 3, 1, 2) * CHANNELS.reshape(1, 3, 1, 1)).reshape(len(nhwc), -1)


def column(nhwc: np.ndarray, kind: str) -> pd.Series:
    if kind == "object arrays":
        return pd.Series(list(nhwc), dtype=object)
    if kind == "nested lists":
        return pd.Series([row.tolist() for row in nhwc], dtype=object)
    arrow_type = FIXED if kind == "fixed-size lists" else VARIABLE
    return pd.Series(pd.arrays.ArrowExtensionArray(pa.array(nhwc.tolist(), type=arrow_type)))


def result(scored: pd.DataFrame) -> np.ndarray:
    return np.stack(scored["prediction"].to_numpy())


SHAPES = (
    r"column 'pixels' holds rows of shape \[4, 5, 3\], but model input x: f32\[\?,3,4,5\] takes rows of shape "
    r"\[3, 4, 5\]"
)


@pytest.mark.parametrize("kind", ["object arrays", "nested lists", "fixed-size lists", "nested variable lists"])
def test_channels_last_rows_are_refused_naming_both_shapes(nchw_xml: Path, kind: str) -> None:
    frame = pd.DataFrame({"pixels": column(images(), kind)})
    # Before: reshaped by value count into [3, 4, 5], every pixel scrambled.
    with pytest.raises(InputSchemaError, match=SHAPES + r".*input_layout=\"NHWC\""):
        frame.ov.predict(nchw_xml, inputs="pixels")


def test_fixed_size_list_shape_is_checked_when_the_graph_is_built(nchw_xml: Path) -> None:
    frame = dd.from_pandas(pd.DataFrame({"pixels": column(images(), "fixed-size lists")}), npartitions=2)
    with pytest.raises(InputSchemaError, match=SHAPES):
        frame.ov.predict(nchw_xml, inputs="pixels")  # no compute: meta shows the shape


def test_variable_lists_in_dask_are_checked_when_the_partition_runs(nchw_xml: Path) -> None:
    frame = dd.from_pandas(pd.DataFrame({"pixels": column(images(), "nested variable lists")}), npartitions=2)
    scored = frame.ov.predict(nchw_xml, inputs="pixels")
    with pytest.raises(InputSchemaError, match=SHAPES), dask.config.set(scheduler="sync"):
        scored.compute()


@pytest.mark.parametrize("kind", ["object arrays", "nested lists", "fixed-size lists", "nested variable lists"])
def test_input_layout_nhwc_matches_numpy_transpose(nchw_xml: Path, kind: str) -> None:
    nhwc = images()
    frame = pd.DataFrame({"pixels": column(nhwc, kind)})
    if kind in ("object arrays", "nested lists"):  # Dask turns object columns into strings
        scored = frame.ov.predict(nchw_xml, inputs="pixels", input_layout="NHWC")
    else:
        with dask.config.set(scheduler="threads"):
            lazy = dd.from_pandas(frame, npartitions=2).ov.predict(nchw_xml, inputs="pixels", input_layout="NHWC")
            scored = lazy.compute()
    np.testing.assert_allclose(result(scored), expected(nhwc), rtol=1e-6)


def test_input_layout_by_input_name_with_a_batch_size(nchw_xml: Path) -> None:
    nhwc = images(7)
    frame = pd.DataFrame({"pixels": column(nhwc, "fixed-size lists")})
    scored = frame.ov.predict(nchw_xml, inputs="pixels", input_layout={"x": "nhwc"}, batch_size=4)
    np.testing.assert_allclose(result(scored), expected(nhwc), rtol=1e-6)


def test_the_layout_is_part_of_the_compiled_model_cache_key(nchw_xml: Path) -> None:
    nhwc = images()
    flat = pd.DataFrame({"pixels": list(nhwc.transpose(0, 3, 1, 2).reshape(len(nhwc), -1))})
    laid_out = pd.DataFrame({"pixels": column(nhwc, "object arrays")})
    np.testing.assert_allclose(result(flat.ov.predict(nchw_xml, inputs="pixels")), expected(nhwc), rtol=1e-6)
    np.testing.assert_allclose(
        result(laid_out.ov.predict(nchw_xml, inputs="pixels", input_layout="NHWC")), expected(nhwc), rtol=1e-6
    )
    assert dask_openvino.cache_info().models == 2


def test_a_model_that_declares_its_layout_is_transposed_from_it(tmp_path: Path) -> None:
    x = ops.parameter([-1, 4, 5, 3], np.float32, name="x")  # channels last, declared in the IR
    x.set_layout(ov.Layout("NHWC"))
    y = ops.multiply(x, ops.constant(CHANNELS.reshape(1, 1, 1, 3)))
    y.output(0).get_tensor().set_names({"y"})
    xml = model_factory.save(ov.Model([y.output(0)], [x], "nhwc"), tmp_path / "nhwc.xml")
    nchw = images().transpose(0, 3, 1, 2)
    frame = pd.DataFrame({"pixels": list(nchw)})
    scored = frame.ov.predict(xml, inputs="pixels", input_layout="NCHW")
    np.testing.assert_allclose(result(scored), (nchw.transpose(0, 2, 3, 1) * CHANNELS).reshape(len(nchw), -1))
    with pytest.raises(InputSchemaError, match=r"input_layout 'NCHD' .* has other dimensions than the model's 'NHWC'"):
        frame.ov.predict(xml, inputs="pixels", input_layout="NCHD")


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("NHW", r"input_layout 'NHW' has 3 dimensions, but no model input has 3"),
        ({"x": "HWCN"}, r"input_layout 'HWCN' for model input x: f32\[\?,3,4,5\] must .* starting with N"),
        ({"x": "NHHC"}, r"must give one distinct letter per dimension \(4\)"),
        ({"image": "NHWC"}, r"input_layout names unknown inputs \['image'\]; the model's inputs are \['x'\]"),
        ({"x": "NXYZ"}, r"declares no layout, and input_layout 'NXYZ' has no N and C"),
    ],
)
def test_bad_input_layout_is_refused_when_the_graph_is_built(
    nchw_xml: Path, layout: str | dict[str, str], message: str
) -> None:
    frame = dd.from_pandas(pd.DataFrame({"pixels": column(images(), "fixed-size lists")}), npartitions=1)
    with pytest.raises(InputSchemaError, match=message):
        frame.ov.predict(nchw_xml, inputs="pixels", input_layout=layout)


@pytest.mark.cluster
@pytest.mark.slow
def test_cli_input_layout(nchw_xml: Path, tmp_path: Path) -> None:
    nhwc = images()
    source = tmp_path / "images.parquet"
    pd.DataFrame({"pixels": column(nhwc, "fixed-size lists")}).to_parquet(source)
    args = ["predict", str(nchw_xml), str(source), "-o", str(tmp_path / "out"), "--inputs", "pixels"]
    local = ["--workers", "1", "--threads-per-worker", "1", "--dashboard-address", ":0"]
    refused = CliRunner().invoke(main, [*args, *local])
    assert refused.exit_code != 0 and "holds rows of shape [4, 5, 3]" in refused.output, refused.output
    done = CliRunner().invoke(main, [*args, "--input-layout", "nhwc", *local], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    scored = pd.read_parquet(tmp_path / "out")
    np.testing.assert_allclose(result(scored), expected(nhwc), rtol=1e-6)


def test_input_layout_and_an_image_preprocessor_on_one_input_are_refused(nchw_xml: Path) -> None:
    from dask_openvino.preprocessing import ChainedPreprocessing, ImageBytesToTensor, ImageMatToTensor, ImageResize

    pipeline = ChainedPreprocessing([ImageBytesToTensor(), ImageResize(4, 5), ImageMatToTensor(format="NHWC")])
    frame = pd.DataFrame({"jpeg": pd.Series([b""], dtype=pd.ArrowDtype(pa.binary()))})
    with pytest.raises(InputSchemaError, match=r"input_layout= and preprocess= both set the layout of model input"):
        frame.ov.predict(nchw_xml, inputs={"x": "jpeg"}, preprocess=pipeline, input_layout="NHWC")
