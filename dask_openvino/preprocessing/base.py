"""The preprocessing protocol: how a pipeline turns one column into model inputs on the worker.

``preprocess=`` takes a [`Preprocessor`][dask_openvino.preprocessing.base.Preprocessor]
(an image pipeline, a tokenizer). On the client it is bound to one model input
([`Preprocessor.bind`][dask_openvino.preprocessing.base.Preprocessor.bind]), giving a
[`BoundPreprocessor`][dask_openvino.preprocessing.base.BoundPreprocessor] that travels
in the task graph. On the worker its ``prepare`` turns one partition's column into
[`Prepared`][dask_openvino.preprocessing.base.Prepared] chunks of feeds, and names the
rows it could not use, which [`predict_partition`][dask_openvino.partition.predict_partition]
then raises on or turns into nulls. Images and text are the two implementations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from dask_openvino.casting import row_label
from dask_openvino.errors import InputSchemaError
from dask_openvino.spec import ModelDescription
from dask_openvino.transforms import ModelTransform

__all__ = ["BoundPreprocessor", "Prepared", "Preprocessor"]


@dataclass(frozen=True)
class Prepared:
    """Model inputs built from one column of a partition, and the rows that could not be used.

    Attributes
    ----------
    n_rows : int
        Rows in the partition.
    failures : mapping of int to str
        Position in the partition -> why that row could not be preprocessed.
    chunks : tuple of (numpy.ndarray, dict) pairs
        Feeds for the rows that succeeded. Each chunk pairs the positions of its rows
        in the partition with one array per input the preprocessor feeds; together
        the chunks cover every successful row once. Images give one chunk; text
        gives one per batch, each padded to its own longest row, the widest first.
    ragged : bool
        Whether chunks differ in width after the batch axis (text padded per batch).
    """

    n_rows: int
    failures: Mapping[int, str]
    chunks: tuple[tuple[np.ndarray, dict[str, np.ndarray]], ...]
    ragged: bool = False

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask over the partition's rows: True where preprocessing succeeded."""
        mask = np.ones(self.n_rows, dtype=bool)
        mask[list(self.failures)] = False
        return mask

    def finish(self, outputs: dict[str, np.ndarray]) -> None:
        """Adjust the model outputs of the whole partition in place once every chunk ran (nothing by default)."""

    def raise_first_failure(self, values: pd.Series, column: str) -> None:
        """Raise [`InputSchemaError`][dask_openvino.errors.InputSchemaError] for the first failed row, if any.

        Parameters
        ----------
        values : pandas.Series
            The preprocessed column of the partition, to name the row by its index
            label and, for a column of paths or text, by its value.
        column : str
            The column that was preprocessed.

        Raises
        ------
        InputSchemaError
            Naming the row's index label, position and (text) value, the reason, and how many other rows failed.
        """
        if not self.failures:
            return
        position = min(self.failures)
        others = len(self.failures) - 1
        more = f" ({others} more row{'s' if others != 1 else ''} of this partition failed too)" if others else ""
        value = values.iloc[position]
        shown = f" (value {value!r})" if isinstance(value, str) and len(value) <= 200 else ""
        # Named by label only: ``values`` may be one chunk of the partition, so a position in it
        # would not be the row's position in the partition.
        raise InputSchemaError(
            f"{row_label(values.index, position)}{shown} of column {column!r}: "
            f"{self.failures[position]}{more}. Pass errors='null' to score the other rows and get the "
            "reason in the error column"
        )


class BoundPreprocessor(Protocol):
    """A preprocessor checked against one model; travels in the task graph.

    Attributes
    ----------
    inputs : tuple of str
        The model inputs this preprocessor feeds.
    transform : ModelTransform or None
        Edits baked into the compiled model (part of the engine cache key).
    """

    @property
    def inputs(self) -> tuple[str, ...]:
        """The model inputs this preprocessor feeds."""

    @property
    def transform(self) -> ModelTransform | None:
        """Edits baked into the compiled model, or None."""

    def describe(self, description: ModelDescription) -> ModelDescription:
        """Return the model's ports once ``transform`` is applied, worked out without reading the model."""

    def check_column(self, dtype: Any, column: str) -> None:
        """Raise [`InputSchemaError`][dask_openvino.errors.InputSchemaError] if such a column cannot feed the model."""

    def prepare(self, values: pd.Series, *, batch_size: int | None) -> Prepared:
        """Turn one partition's column into model feeds."""


class Preprocessor(Protocol):
    """What ``preprocess=`` accepts: a pipeline that can be bound to a model input."""

    def default_input(self, description: ModelDescription) -> str | None:
        """Return the model input this pipeline feeds when the user names none, if the ports show it."""

    def bind(self, description: ModelDescription, input_name: str) -> BoundPreprocessor:
        """Check the pipeline against the model and fix where each step runs."""
