"""Analytics Zoo's ``pyzoo/test/zoo/pipeline/api/torch/test_inference_model_torch.py``, ported.

Upstream: intel-analytics/analytics-zoo at HEAD (3d3e86d2) and v0.11.2 (identical there).
``torchvision.models.resnet18()`` became a small module with its ports (``[?, 3, 224, 224]``
-> ``[?, 1000]``); ``zoo_pickle_module`` became torch's own pickle (what ``torch.save``
uses by default); the Spark context is gone. ``load_torch(path)`` takes the file as it
is: a pickled module is traced with the first batch ``predict`` receives.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from dask_openvino import ConversionError, ModelLoadError
from dask_openvino.zoo import InferenceModel

torch = pytest.importorskip("torch")


class TinyResNet(torch.nn.Module):  # type: ignore[misc]
    """resnet18's ports: [N, 3, 224, 224] -> [N, 1000]."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, kernel_size=7, stride=8)
        self.fc = torch.nn.Linear(8, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def reference(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out: np.ndarray = net(torch.from_numpy(x.astype(np.float32))).numpy()
    return out


@pytest.mark.slow
def test_load_torch(tmp_path: Path) -> None:
    """Upstream ``test_load_torch`` (HEAD 3d3e86d2): ``torch.save(model, path)``, ``load_torch(path)``, ``predict``."""
    torch.manual_seed(0)
    torch_model = TinyResNet().eval()
    tmp_path_pt = str(tmp_path / "model") + ".pt"
    torch.save(torch_model, tmp_path_pt)
    model = InferenceModel(10)
    model.load_torch(tmp_path_pt)
    input_data = np.random.random([4, 3, 224, 224])
    output_data = model.predict(input_data)
    assert isinstance(output_data, np.ndarray) and output_data.shape == (4, 1000)
    np.testing.assert_allclose(output_data, reference(torch_model, input_data), rtol=1e-4, atol=1e-5)
    more = np.random.random([7, 3, 224, 224])
    np.testing.assert_allclose(model.predict(more), reference(torch_model, more), rtol=1e-4, atol=1e-5)
    os.remove(tmp_path_pt)


@pytest.mark.slow
def test_load_torch_script_file_and_what_cannot_load(tmp_path: Path) -> None:
    """The same upstream call on a TorchScript file (``torch.jit.save``), and the messages where it cannot work."""
    torch.manual_seed(1)
    torch_model = TinyResNet().eval()
    path = tmp_path / "scripted.pt"
    with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; files written with it still exist
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.trace(torch_model, torch.zeros(2, 3, 224, 224)), str(path))
    model = InferenceModel(2)
    model.load_torch(str(path))
    with pytest.raises(ModelLoadError, match=r"traced with its first batch: call predict\(\) with a numpy array"):
        model.spec  # noqa: B018
    input_data = np.random.random([3, 3, 224, 224])
    np.testing.assert_allclose(model.predict(input_data), reference(torch_model, input_data), rtol=1e-4, atol=1e-5)

    torch.save(torch_model.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(ConversionError, match=r"holds a OrderedDict, not a torch.nn.Module.*load_state_dict"):
        InferenceModel().load_torch(str(tmp_path / "weights.pt"), input_shape=[1, 3, 224, 224])
    with pytest.raises(ConversionError, match=r"missing\.pt.*no such file"):
        InferenceModel().load_torch(str(tmp_path / "missing.pt"))
