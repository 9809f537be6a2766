"""The benchmark data sets, written once as Parquet (one file per partition) and cached.

Workers read these files themselves (``dd.read_parquet``); nothing is shipped from the
client. Tensor columns are pyarrow fixed-size lists, the form ``.ov.predict`` is fed
by Dask. The same rows are loaded into numpy for the OpenVINO-alone limit.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.models import IMAGE_SIZE, TABULAR_FEATURES, normalise_pixels, token_batch

DATA_VERSION = 1
JPEG_SIZE = 256

TABULAR_COLUMNS = tuple(f"f{i:02d}" for i in range(TABULAR_FEATURES))


@dataclass(frozen=True)
class Dataset:
    """One Parquet data set: its directory, row count, partitions and column names."""

    path: str
    rows: int
    partitions: int
    columns: tuple[str, ...]

    @property
    def rows_per_partition(self) -> int:
        """Rows in each partition (the last may be shorter)."""
        return -(-self.rows // self.partitions)


def _fixed_list(values: np.ndarray) -> pa.FixedSizeListArray:
    width = int(np.prod(values.shape[1:]))
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), width)


def _write(directory: Path, columns: Mapping[str, Any], partitions: int, *, tabular: bool = False) -> None:
    """One Parquet file per partition: numbers as plain columns, tensors as fixed-size lists, bytes as binary."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    rows = len(next(iter(columns.values())))
    step = -(-rows // partitions)
    for part, start in enumerate(range(0, rows, step)):
        stop = min(start + step, rows)
        if tabular or isinstance(next(iter(columns.values())), list):
            table = pa.table({name: pa.array(values[start:stop]) for name, values in columns.items()})
        else:
            table = pa.table({name: _fixed_list(values[start:stop]) for name, values in columns.items()})
        pq.write_table(table, directory / f"part.{part:04d}.parquet")


def _tabular(rows: int, seed: int = 2) -> dict[str, np.ndarray]:
    values = np.random.default_rng(seed).normal(size=(rows, TABULAR_FEATURES)).astype(np.float32)
    return {name: values[:, i] for i, name in enumerate(TABULAR_COLUMNS)}


def _photos(rows: int) -> tuple[list[bytes], np.ndarray]:
    """JPEG files of smooth 256x256 images, and their decoded central 224x224 crops (u8 NHWC)."""
    from PIL import Image

    rng = np.random.default_rng(3)
    encoded, crops = [], np.empty((rows, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    margin = (JPEG_SIZE - IMAGE_SIZE) // 2
    for row in range(rows):
        coarse = Image.fromarray(rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8))
        smooth = np.asarray(coarse.resize((JPEG_SIZE, JPEG_SIZE), Image.Resampling.BICUBIC), dtype=np.int16)
        noisy = np.clip(smooth + rng.integers(-12, 13, size=smooth.shape), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(noisy).save(buffer, format="JPEG", quality=90)
        encoded.append(buffer.getvalue())
        decoded = np.asarray(Image.open(io.BytesIO(encoded[-1])).convert("RGB"))
        crops[row] = decoded[margin : margin + IMAGE_SIZE, margin : margin + IMAGE_SIZE]
    return encoded, crops


def prepare(directory: Path, sizes: dict[str, tuple[int, int]]) -> dict[str, Dataset]:
    """Write (or reuse) the data sets named in ``sizes`` as ``{name: (rows, partitions)}``.

    Names: ``images`` (ImageNet-normalised f32 NCHW 224x224), ``jpeg`` (the same images
    as 256x256 JPEG files, whose central crops ``images`` holds), ``tokens`` (any name
    starting with one of these is another set of the same kind, e.g. ``images_reference``),
    names starting with ``tabular_list`` (the tabular rows as one fixed-size list column
    ``features``) and any other name starting with ``tabular`` (64 float columns;
    variants differ in partitions).
    """
    directory.mkdir(parents=True, exist_ok=True)
    manifest_path = directory / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if manifest.get("version") != DATA_VERSION:
        manifest = {"version": DATA_VERSION, "sets": {}}
    found: dict[str, Dataset] = {}
    for name, (rows, partitions) in sizes.items():
        known = manifest["sets"].get(name)
        if known is not None and known["rows"] == rows and known["partitions"] == partitions:
            found[name] = Dataset(**{**known, "columns": tuple(known["columns"])})
            continue
        target = directory / name
        if name.startswith(("images", "jpeg")):
            encoded, crops = _photos(rows)
            values = {"image": normalise_pixels(crops)} if name.startswith("images") else {"jpeg": encoded}
            _write(target, values, partitions)
        elif name.startswith("tokens"):
            values = token_batch(np.random.default_rng(4), rows)
            _write(target, values, partitions)
        elif name.startswith("tabular_list"):
            values = {"features": np.stack(list(_tabular(rows).values()), axis=1)}
            _write(target, values, partitions)
        else:
            values = _tabular(rows)
            _write(target, values, partitions, tabular=True)
        columns = tuple(values)
        found[name] = Dataset(path=str(target), rows=rows, partitions=partitions, columns=columns)
        manifest["sets"][name] = asdict(found[name])
        manifest_path.write_text(json.dumps(manifest, indent=2))
    return found


def load_arrays(dataset: Dataset) -> dict[str, np.ndarray]:
    """Read a whole data set into numpy arrays (what the OpenVINO-alone limit is fed)."""
    table = pq.read_table(dataset.path)
    if dataset.columns == TABULAR_COLUMNS:
        return {"features": np.stack([table.column(c).to_numpy() for c in TABULAR_COLUMNS], axis=1)}
    arrays = {}
    for name in dataset.columns:
        column = table.column(name).combine_chunks()
        flat = column.flatten().to_numpy()
        arrays[name] = flat.reshape(len(column), -1)
    if "image" in arrays:
        arrays["image"] = arrays["image"].reshape(-1, 3, IMAGE_SIZE, IMAGE_SIZE)
    return arrays
