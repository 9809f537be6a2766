"""The `--preprocess` and `--postprocess` languages, and `--labels`.

```text
--preprocess image:resize=256,crop=224,imagenet
--preprocess sentence-embedding:minilm/tokenizer.json,pooling=cls
--postprocess topk:5,softmax --labels classes.txt
--postprocess logits=argmax --postprocess score=threshold:0.9
```

[`parse_preprocess`][dask_openvino.cli.processing.parse_preprocess] and
[`parse_postprocess`][dask_openvino.cli.processing.parse_postprocess] read them from
Python too; the grammar is in `dask-openvino predict --help`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import click
import fsspec

from dask_openvino.cli.params import AnyParamType, parse_numbers
from dask_openvino.postprocessing import ArgMax, Expand, Postprocessor, Softmax, Threshold, TopK
from dask_openvino.preprocessing import (
    ChainedPreprocessing,
    ImageBytesToTensor,
    ImageCenterCrop,
    ImageChannelNormalize,
    ImageMatToTensor,
    ImageRead,
    ImageResize,
)
from dask_openvino.text import SentenceEmbedding, TextTokenize

__all__ = [
    "LabelsParam",
    "PostprocessParam",
    "PostprocessStep",
    "Preprocess",
    "PreprocessParam",
    "build_postprocess",
    "parse_postprocess",
    "parse_preprocess",
]

Preprocess = ChainedPreprocessing | TextTokenize | SentenceEmbedding
"""What `--preprocess` builds."""

_IMAGENET_MEAN = (123.675, 116.28, 103.53)
_IMAGENET_STD = (58.395, 57.12, 57.375)


def _options(text: str, *, flags: set[str], keys: set[str], what: str) -> tuple[set[str], dict[str, str]]:
    """Split `flag,key=value,...` into the flags and keys given, refusing any other."""
    given: set[str] = set()
    named: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if sep and key in keys:
            named[key] = value.strip()
        elif not sep and key in flags:
            given.add(key)
        else:
            known = sorted(flags) + [f"{k}=..." for k in sorted(keys)]
            raise click.BadParameter(f"{what}: unknown option {item!r}; options are {known}")
    return given, named


def _size(text: str, what: str) -> tuple[int, int]:
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2):
        raise click.BadParameter(f"{what}={text!r}: give H or HxW in pixels")
    return (parts[0], parts[-1])


def _image_pipeline(options: str) -> ChainedPreprocessing:
    flags, named = _options(
        options,
        flags={"paths", "rgb", "imagenet"},
        keys={"resize", "crop", "mean", "std", "format", "backend"},
        what="--preprocess image",
    )
    steps: list[Any] = [ImageRead() if "paths" in flags else ImageBytesToTensor()]
    if "resize" in named:
        steps.append(ImageResize(*_size(named["resize"], "resize")))
    if "crop" in named:
        steps.append(ImageCenterCrop(*_size(named["crop"], "crop")))
    imagenet = "imagenet" in flags
    mean = parse_numbers(named["mean"], "mean") if "mean" in named else (_IMAGENET_MEAN if imagenet else None)
    std = parse_numbers(named["std"], "std") if "std" in named else (_IMAGENET_STD if imagenet else None)
    if std is not None and mean is None:
        raise click.BadParameter("--preprocess image: std= needs mean=")
    if mean is not None:
        steps.append(ImageChannelNormalize(mean, std))
    layout = named.get("format", "").upper() or None
    # The steps check format= and backend= themselves; their ValueError becomes a usage error.
    steps.append(ImageMatToTensor(format=layout, to_RGB="rgb" in flags or imagenet))  # type: ignore[arg-type]
    return ChainedPreprocessing(steps, backend=named.get("backend", "openvino"))  # type: ignore[arg-type]


def _text_pipeline(kind: str, options: str) -> TextTokenize | SentenceEmbedding:
    tokenizer, _, rest = options.partition(",")
    if not tokenizer.strip():
        raise click.BadParameter(f"--preprocess {kind}: give the tokenizer.json path, e.g. {kind}:model/tokenizer.json")
    embedding = kind == "sentence-embedding"
    flags, named = _options(
        rest,
        flags={"no-normalize"} if embedding else set(),
        keys={"max_length", "pooling"} if embedding else {"max_length"},
        what=f"--preprocess {kind}",
    )
    max_length = int(named["max_length"]) if "max_length" in named else None
    if embedding:
        return SentenceEmbedding(
            tokenizer.strip(),
            max_length=max_length,
            pooling=named.get("pooling", "mean"),  # type: ignore[arg-type]
            normalize="no-normalize" not in flags,
        )
    return TextTokenize(tokenizer.strip(), max_length=max_length)


def parse_preprocess(spec: str | None) -> Preprocess | None:
    """Build the `preprocess=` pipeline described by a `--preprocess` value.

    Parameters
    ----------
    spec : str or None
        `KIND[:OPTIONS]` as described by `dask-openvino predict --help`.

    Returns
    -------
    ChainedPreprocessing, TextTokenize, SentenceEmbedding or None

    Raises
    ------
    click.BadParameter
        If the kind or an option is unknown or malformed.

    Examples
    --------
    >>> parse_preprocess("image:resize=256,crop=224,imagenet").backend
    'openvino'
    """
    if spec is None:
        return None
    kind, _, options = spec.partition(":")
    kind = kind.strip().lower()
    try:
        if kind == "image":
            return _image_pipeline(options)
        if kind in ("text", "sentence-embedding"):
            return _text_pipeline(kind, options)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    raise click.BadParameter(f"unknown kind {kind!r}; use image, text or sentence-embedding")


class PreprocessParam(AnyParamType):
    """A `--preprocess KIND[:OPTIONS]` value.

    It becomes the pipeline [`parse_preprocess`][dask_openvino.cli.processing.parse_preprocess] builds.

    Examples
    --------
    >>> PreprocessParam()("text:tokenizer.json,max_length=64").max_length
    64
    """

    name = "preprocess"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> Preprocess | None:
        """Return the pipeline."""
        try:
            return parse_preprocess(value)
        except click.BadParameter as err:
            self.fail(err.message, param, ctx)


_POSTPROCESS_FLAGS: dict[str, set[str]] = {
    "softmax": {"expand"},
    "argmax": set(),
    "expand": set(),
    "topk": {"softmax", "expand"},
    "threshold": {"expand"},
}


@dataclass(frozen=True)
class PostprocessStep:
    """One parsed `--postprocess [OUTPUT=]KIND[:OPTIONS]` value, built once `--labels` is read.

    Attributes
    ----------
    spec : str
        `KIND[:OPTIONS]` as given, for messages.
    output : str or None
        The model output it applies to; `None` for the only one.
    kind : {"softmax", "argmax", "topk", "threshold", "expand"}
        The postprocessor.
    flags : frozenset of str
        Its flags (`expand`, `softmax`).
    number : float or None
        `K` of `topk`, `VALUE` of `threshold`.

    Examples
    --------
    >>> PostprocessParam()("logits=topk:2,softmax").build(["cat", "dog"])
    TopK(k=2, labels=('cat', 'dog'), softmax=True, expand=False, label_column='label', probability_column='probability')
    """

    spec: str
    output: str | None
    kind: Literal["softmax", "argmax", "topk", "threshold", "expand"]
    flags: frozenset[str] = frozenset()
    number: float | None = None

    def build(self, labels: Sequence[str] | None) -> Postprocessor:
        """Make the postprocessor, with `labels` as class names for `argmax` and `topk`.

        Raises
        ------
        click.BadParameter
            If the postprocessor refuses the number (e.g. `topk:0`).
        """
        expand = "expand" in self.flags
        try:
            if self.kind == "softmax":
                return Softmax(expand=expand)
            if self.kind == "argmax":
                return ArgMax(labels)
            if self.kind == "expand":
                return Expand()
            if self.kind == "topk":
                return TopK(int(self.number or 0), labels, softmax="softmax" in self.flags, expand=expand)
            return Threshold(0.5 if self.number is None else self.number, expand=expand)
        except ValueError as err:
            raise click.BadParameter(f"{self.spec!r}: {err}") from err


def _postprocess_step(value: str) -> PostprocessStep:
    head, colon, _ = value.partition(":")
    output, equals, kind = head.partition("=")
    spec = (kind + colon + value[len(head) + 1 :]) if equals else value
    kind, _, options = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in _POSTPROCESS_FLAGS:
        raise click.BadParameter(f"unknown kind {kind!r}; use softmax, argmax, topk, threshold or expand")
    number_text, rest = "", options
    if kind in ("topk", "threshold"):
        number_text, _, rest = options.partition(",")
    flags, _ = _options(rest, flags=_POSTPROCESS_FLAGS[kind], keys=set(), what=f"--postprocess {kind}")
    number: float | None = None
    try:
        if kind == "topk":
            number = int(number_text)
        elif number_text.strip():
            number = float(number_text)
    except ValueError as err:
        raise click.BadParameter(f"{spec!r}: {err}") from err
    step = PostprocessStep(spec, output.strip() if equals else None, kind, frozenset(flags), number)  # type: ignore[arg-type]
    # Building once checks the number now (topk:0); labels only name the classes.
    step.build(None)
    return step


def build_postprocess(
    steps: Sequence[PostprocessStep], labels: Sequence[str] | None = None
) -> Postprocessor | dict[str, Postprocessor] | None:
    """Build the `postprocess=` argument of `.ov.predict` from parsed `--postprocess` values.

    Parameters
    ----------
    steps : sequence of PostprocessStep
        Parsed values, which either is one without an output name or all name their output.
    labels : sequence of str, optional
        Class names for `argmax` and `topk`.

    Returns
    -------
    Postprocessor, dict of str to Postprocessor, or None

    Raises
    ------
    click.BadParameter
        If several values do not all name their output.

    Examples
    --------
    >>> build_postprocess([PostprocessParam()("softmax")])
    Softmax(expand=False)
    """
    if not steps:
        return None
    if len(steps) > 1 and any(step.output is None for step in steps):
        raise click.BadParameter("with several --postprocess values, write each as OUTPUT=KIND")
    if steps[0].output is None:
        return steps[0].build(labels)
    return {step.output: step.build(labels) for step in steps if step.output is not None}


def parse_postprocess(
    specs: Sequence[str], labels: Sequence[str] | None = None
) -> Postprocessor | dict[str, Postprocessor] | None:
    """Build the `postprocess=` argument described by `--postprocess` values.

    Parameters
    ----------
    specs : sequence of str
        `[OUTPUT=]KIND[:OPTIONS]` values, as described by `dask-openvino predict --help`.
    labels : sequence of str, optional
        Class names for `argmax` and `topk`.

    Returns
    -------
    Postprocessor, dict of str to Postprocessor, or None

    Raises
    ------
    click.BadParameter
        If a kind or option is unknown, or several values do not all name their output.

    Examples
    --------
    >>> parse_postprocess(["topk:3,softmax"]).k
    3
    >>> sorted(parse_postprocess(["logits=argmax", "score=threshold:0.9"]))
    ['logits', 'score']
    """
    return build_postprocess([_postprocess_step(spec) for spec in specs], labels)


class PostprocessParam(AnyParamType):
    """One `--postprocess [OUTPUT=]KIND[:OPTIONS]` value.

    It becomes a [`PostprocessStep`][dask_openvino.cli.processing.PostprocessStep];
    [`combine`][dask_openvino.cli.processing.PostprocessParam.combine] checks that
    repeated values name their outputs; [`build_postprocess`][dask_openvino.cli.processing.build_postprocess]
    makes the postprocessors once the labels are known.

    Examples
    --------
    >>> PostprocessParam()("score=threshold:0.9").number
    0.9
    """

    name = "postprocess"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> PostprocessStep:
        """Return the parsed step."""
        try:
            return _postprocess_step(value)
        except click.BadParameter as err:
            self.fail(err.message, param, ctx)

    @staticmethod
    def combine(
        ctx: click.Context | None, param: click.Parameter | None, steps: Sequence[PostprocessStep]
    ) -> tuple[PostprocessStep, ...]:
        """Check that several steps all name their output; return them."""
        build_postprocess(steps)
        return tuple(steps)


class LabelsParam(AnyParamType):
    """A `--labels FILE` of class names, one per line (blank lines skipped), read through fsspec."""

    name = "labels"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> list[str]:
        """Return the class names."""
        try:
            with fsspec.open(value, "r", encoding="utf-8") as f:
                labels = [line.strip() for line in f if line.strip()]
        except OSError as err:
            self.fail(f"cannot read {value}: {err}", param, ctx)
        if not labels:
            self.fail(f"{value} holds no labels", param, ctx)
        return labels
