"""The `--preprocess` and `--postprocess` languages, and `--labels`.

```text
--preprocess image:resize=256,crop=224,imagenet
--preprocess sentence-embedding:minilm/tokenizer.json,pooling=cls
--postprocess topk:5,softmax --labels classes.txt
--postprocess logits=argmax --postprocess score=threshold:0.9
```

[`parse_preprocess`][dask_openvino.cli.processing.parse_preprocess] reads the first
from Python too; the grammar is in `dask-openvino predict --help`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
    "Preprocess",
    "PreprocessParam",
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
        return parse_preprocess(value)


_POSTPROCESS_FLAGS: dict[str, set[str]] = {
    "softmax": {"expand"},
    "argmax": set(),
    "expand": set(),
    "topk": {"softmax", "expand"},
    "threshold": {"expand"},
}


def _postprocessor(value: str, labels: Sequence[str] | None) -> tuple[str | None, Postprocessor]:
    """Build one `[OUTPUT=]KIND[:OPTIONS]` value: `(OUTPUT or None, postprocessor)`."""
    head, colon, _ = value.partition(":")
    output, equals, kind = head.partition("=")
    spec = (kind + colon + value[len(head) + 1 :]) if equals else value
    kind, _, options = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in _POSTPROCESS_FLAGS:
        raise click.BadParameter(f"unknown kind {kind!r}; use softmax, argmax, topk, threshold or expand")
    number, rest = "", options
    if kind in ("topk", "threshold"):
        number, _, rest = options.partition(",")
    flags, _ = _options(rest, flags=_POSTPROCESS_FLAGS[kind], keys=set(), what=f"--postprocess {kind}")
    expand = "expand" in flags
    made: Postprocessor
    # A number the postprocessor refuses (topk:0, topk:two) is a usage error like any other.
    try:
        if kind == "softmax":
            made = Softmax(expand=expand)
        elif kind == "argmax":
            made = ArgMax(labels)
        elif kind == "expand":
            made = Expand()
        elif kind == "topk":
            made = TopK(int(number), labels, softmax="softmax" in flags, expand=expand)
        else:
            made = Threshold(float(number) if number.strip() else 0.5, expand=expand)
    except ValueError as err:
        raise click.BadParameter(f"{spec!r}: {err}") from err
    return (output.strip() if equals else None), made


class PostprocessParam(AnyParamType):
    """`--postprocess [OUTPUT=]KIND[:OPTIONS]`, built with the class names of `--labels`.

    [`combine`][dask_openvino.cli.processing.PostprocessParam.combine] builds the
    values, once each, into the `postprocess=` argument of `.ov.predict`. It reads
    the names from `ctx.params["labels"]`, so the command declares `--labels` (a
    [`LabelsParam`][dask_openvino.cli.processing.LabelsParam]) with `is_eager=True`:
    click then reads it first, wherever it stands on the command line.

    Examples
    --------
    >>> PostprocessParam.combine(None, None, ("topk:3,softmax",))
    TopK(k=3, labels=None, softmax=True, expand=False, label_column='label', probability_column='probability')
    >>> PostprocessParam.combine(None, None, ("logits=argmax", "score=threshold:0.9"))
    {'logits': ArgMax(labels=None), 'score': Threshold(value=0.9, expand=False)}
    """

    name = "postprocess"

    @staticmethod
    def combine(
        ctx: click.Context | None, param: click.Parameter | None, values: Sequence[str]
    ) -> Postprocessor | dict[str, Postprocessor] | None:
        """Build the values: the only one's postprocessor, or `{OUTPUT: postprocessor}`; `None` if none.

        Raises
        ------
        click.BadParameter
            If a kind or option is unknown, a number is refused (`topk:0`), or
            several values do not all name their output.
        click.UsageError
            If `--labels` is given without an `argmax` or `topk` to name classes for.
        """
        labels = ctx.params.get("labels") if ctx is not None else None
        built = [_postprocessor(value, labels) for value in values]
        if labels is not None and not any(isinstance(made, ArgMax | TopK) for _, made in built):
            raise click.UsageError(
                "--labels names the classes that --postprocess argmax or topk:K picks; add one of them, or leave "
                "--labels out"
            )
        if not built:
            return None
        if len(built) == 1 and built[0][0] is None:
            return built[0][1]
        if any(output is None for output, _ in built):
            raise click.BadParameter("with several --postprocess values, write each as OUTPUT=KIND")
        return {output: made for output, made in built if output is not None}


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
