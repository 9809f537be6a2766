"""The ``load_*`` methods of Analytics Zoo's ``InferenceModel``, over OpenVINO's converters.

[`Loaders`][dask_openvino.zoo.loaders.Loaders] is the base of
[`InferenceModel`][dask_openvino.zoo.InferenceModel]: every loader converts its
framework's file to an ``openvino.Model`` in a fresh interpreter and hands it to the
model's ``load_converted``. Formats OpenVINO no longer reads (Caffe, BigDL's own
models, Model Optimizer's TensorFlow Object Detection transformations and its
calibration tool) raise [`ConversionError`][dask_openvino.errors.ConversionError] saying
how to get an IR instead: export the network to ONNX and call
[`load_onnx`][dask_openvino.zoo.InferenceModel.load_onnx].
"""

from __future__ import annotations

import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import openvino as ov

from dask_openvino.convert import convert_model
from dask_openvino.errors import ConversionError
from dask_openvino.zoo.framework_files import (
    check_torch_file,
    convert_tensorflow,
    convert_torch_file,
    example_from_shape,
)

__all__ = ["Loaders", "VIA_ONNX"]

VIA_ONNX = (
    "export the network from the framework it was trained in to ONNX (torch.onnx.export, tf2onnx, "
    "caffe2onnx, keras2onnx) and load it with load_onnx(path), or convert it once to an IR with "
    "dask_openvino.convert(path, output_dir) and load_openvino the .xml"
)
"""How to get an IR from a format OpenVINO no longer reads."""


def _unreadable(what: str, why: str) -> ConversionError:
    return ConversionError(f"{what}: {why}; {VIA_ONNX}")


class Loaders(ABC):
    """Analytics Zoo's ``load_*`` methods; [`InferenceModel`][dask_openvino.zoo.InferenceModel] provides the storage.

    Examples
    --------
    >>> model = InferenceModel()  # doctest: +SKIP
    >>> model.load_onnx("model.onnx")  # doctest: +SKIP
    """

    @abstractmethod
    def load_openvino(
        self, model_path: str | os.PathLike[str], weight_path: str | os.PathLike[str] | None = None, batch_size: int = 0
    ) -> None:
        """Load an OpenVINO IR."""

    @abstractmethod
    def load_converted(self, model: ov.Model, input_shape: Any = None) -> None:
        """Install a converted model (saved to a private temporary IR)."""

    @abstractmethod
    def defer_torch(self, path: str | os.PathLike[str]) -> None:
        """Convert the PyTorch file at ``path`` with the first batch ``predict`` receives."""

    def load_onnx(self, model_path: str | os.PathLike[str], *, input_shape: Any = None) -> None:
        """Load an ONNX model, converted to OpenVINO in memory.

        The converted IR is saved in a temporary directory that this object owns
        and deletes when it is garbage collected or loads another model. It is on
        this machine's file system, which is all
        [`distributed_predict`][dask_openvino.zoo.InferenceModel.distributed_predict]
        needs with a local cluster; for workers on other hosts, convert to shared
        storage first with [`convert`][dask_openvino.convert.convert] and
        [`load_openvino`][dask_openvino.zoo.InferenceModel.load_openvino] the result.
        Keep this object alive until lazy results are computed.

        Parameters
        ----------
        model_path : str or os.PathLike
            The ``.onnx`` file.
        input_shape : shape or dict of str to shape, optional
            New input shape(s); ``None`` or ``-1`` marks a dynamic dimension.

        Raises
        ------
        ConversionError
            If OpenVINO cannot convert the file; the converter's message is included.

        Examples
        --------
        >>> model = InferenceModel()  # doctest: +SKIP
        >>> model.load_onnx("model.onnx")  # doctest: +SKIP
        """
        self.load_converted(convert_model(model_path, input_shape=input_shape))

    def load_tensorflow(
        self,
        model_path: str | os.PathLike[str],
        model_type: str = "frozenModel",
        inputs: Sequence[str] | int | None = None,
        outputs: Sequence[str] | int | bool | None = None,
        intra_op_parallelism_threads: int | bool = 1,
        inter_op_parallelism_threads: int = 1,
        use_per_session_threads: bool = True,
        *,
        input_shape: Any = None,
    ) -> None:
        """Load a TensorFlow model, converted to OpenVINO in memory.

        Both of Analytics Zoo's signatures work: ``(model_path, model_type,
        intra_op_parallelism_threads, inter_op_parallelism_threads, use_per_session_threads)``
        and ``(model_path, model_type, inputs, outputs, ...)``. OpenVINO reads SavedModel
        directories, frozen ``.pb`` graphs and ``.tflite`` files itself. The TensorFlow
        session options have no counterpart: threads are OpenVINO's
        (``supported_concurrent_num`` and ``config``), so they are accepted and unused.
        Storage of the converted IR is as for [`load_onnx`][dask_openvino.zoo.InferenceModel.load_onnx].

        Parameters
        ----------
        model_path : str or os.PathLike
            A SavedModel directory, or a ``.pb`` / ``.tflite`` file.
        model_type : {"frozenModel", "savedModel"}, default "frozenModel"
            Checked against ``model_path`` (a file for ``"frozenModel"``, a directory for ``"savedModel"``).
        inputs, outputs : list of str, optional
            Tensor names to cut the graph at (``openvino.convert_model``'s ``input`` and ``output``).
        intra_op_parallelism_threads, inter_op_parallelism_threads, use_per_session_threads
            TensorFlow session options; unused.
        input_shape : shape or dict of str to shape, optional
            New input shape(s), e.g. to fix a dynamic batch or image size.

        Raises
        ------
        ConversionError
            If OpenVINO cannot convert the model.
        ValueError
            If ``model_type`` is unknown or does not match ``model_path``.

        Examples
        --------
        >>> model = InferenceModel()  # doctest: +SKIP
        >>> model.load_tensorflow("saved_model/", "savedModel")  # doctest: +SKIP
        >>> model.load_tensorflow("graph.pb", "frozenModel", ["input"], ["logits"])  # doctest: +SKIP
        """
        expected = {"savedModel": os.path.isdir, "frozenModel": os.path.isfile}
        if model_type not in expected:
            raise ValueError(f"model_type must be 'savedModel' or 'frozenModel', got {model_type!r}")
        if not expected[model_type](model_path):
            kind = "a SavedModel directory" if model_type == "savedModel" else "a frozen graph (.pb) file"
            raise ValueError(f"model_type={model_type!r} needs {kind}, but {os.fspath(model_path)!r} is not one")
        # The older signature passes the thread counts where the newer one has inputs/outputs.
        cut_inputs = None if inputs is None or isinstance(inputs, int) else [str(n) for n in inputs]
        cut_outputs = None if outputs is None or isinstance(outputs, int) else [str(n) for n in outputs]
        self.load_converted(convert_tensorflow(model_path, inputs=cut_inputs, outputs=cut_outputs), input_shape)

    def load_torch(
        self,
        model: Any,
        example_input: Any = None,
        *,
        input_shape: Any = None,
    ) -> None:
        """Load a PyTorch model, converted to OpenVINO in memory.

        ``load_torch(path)``, Analytics Zoo's call, takes what ``torch.save(model, path)``
        or ``torch.jit.save`` wrote ([`dask_openvino.zoo.framework_files`][dask_openvino.zoo.framework_files]).
        OpenVINO traces the module with an example batch: ``example_input``, zeros
        shaped like ``input_shape``, or, when neither is given, the first batch
        [`predict`][dask_openvino.zoo.InferenceModel.predict] receives (the file is
        converted then, once).

        Parameters
        ----------
        model : torch.nn.Module, str or os.PathLike
            A module, or the path of a saved one. A pickled module is unpickled
            (``torch.load(path, weights_only=False)``), which runs code stored in it:
            load only files you trust.
        example_input : torch.Tensor, numpy.ndarray, tuple or dict, optional
            One batch of input to trace with; needed for a module object.
        input_shape : shape or dict of str to shape, optional
            New input shape(s) of the converted model (``None`` or ``-1`` for a
            dynamic dimension); a saved module is traced with zeros of this shape.

        Raises
        ------
        MissingDependencyError
            If ``model`` is a path and ``torch`` is not installed.
        ConversionError
            If the file does not hold a module, or OpenVINO cannot convert the model.

        Examples
        --------
        >>> model = InferenceModel()  # doctest: +SKIP
        >>> model.load_torch("resnet18.pt")  # doctest: +SKIP
        >>> model.predict(images)  # doctest: +SKIP
        """
        if isinstance(model, (str, os.PathLike)):
            if example_input is None and input_shape is None:
                check_torch_file(model)
                self.defer_torch(model)
                return
            if example_input is None:
                example = example_from_shape(input_shape)
            else:
                example = [
                    np.asarray(a)
                    for a in (example_input if isinstance(example_input, (list, tuple)) else [example_input])
                ]
            self.load_converted(convert_torch_file(model, example), input_shape)
            return
        self.load_converted(convert_model(model, example_input=example_input), input_shape)

    def load_paddle(self, model_path: str | os.PathLike[str], *, input_shape: Any = None) -> None:
        """Load a PaddlePaddle model (``.pdmodel``), converted to OpenVINO in memory.

        OpenVINO reads the file itself; the ``paddlepaddle`` package is not needed.
        Storage of the converted IR is as for [`load_onnx`][dask_openvino.zoo.InferenceModel.load_onnx].

        Parameters
        ----------
        model_path : str or os.PathLike
            The ``.pdmodel`` file (its ``.pdiparams`` beside it).
        input_shape : shape or dict of str to shape, optional
            New input shape(s).

        Raises
        ------
        ConversionError
            If OpenVINO cannot convert the model.

        Examples
        --------
        >>> model = InferenceModel()  # doctest: +SKIP
        >>> model.load_paddle("inference.pdmodel")  # doctest: +SKIP
        """
        self.load_converted(convert_model(model_path, input_shape=input_shape))

    # ---- Analytics Zoo's older and removed loaders

    def load_openvino_ng(
        self, model_path: str | os.PathLike[str], weight_path: str | os.PathLike[str] | None = None, batch_size: int = 0
    ) -> None:
        """Load an OpenVINO IR: the same as [`load_openvino`][dask_openvino.zoo.InferenceModel.load_openvino].

        Analytics Zoo loaded it through the nGraph API, which became OpenVINO's only one.

        Examples
        --------
        >>> model.load_openvino_ng("model.xml", "model.bin")  # doctest: +SKIP
        """
        self.load_openvino(model_path, weight_path, batch_size)

    def load_tensorflow_graph(
        self,
        model_path: str | os.PathLike[str],
        model_type: str,
        inputs: Sequence[str],
        outputs: Sequence[str],
        intra_op_parallelism_threads: int = 1,
        inter_op_parallelism_threads: int = 1,
        use_per_session_threads: bool = True,
    ) -> None:
        """Load a TensorFlow graph cut at ``inputs`` / ``outputs`` (BigDL Orca's name for that signature).

        The same as ``load_tensorflow(model_path, model_type, inputs, outputs)``; the
        session options are unused.

        Examples
        --------
        >>> model.load_tensorflow_graph("graph.pb", "frozenModel", ["input"], ["logits"])  # doctest: +SKIP
        """
        self.load_tensorflow(model_path, model_type, list(inputs), list(outputs))

    def load_bigdl(self, model_path: str, weight_path: str | None = None) -> None:
        """Refuse a BigDL / Analytics Zoo model file: OpenVINO cannot read it.

        Raises
        ------
        ConversionError
            Always, saying how to get an IR (via ONNX).

        Examples
        --------
        >>> model.load_bigdl("model.bigdl")  # doctest: +SKIP
        Traceback (most recent call last):
        ConversionError: ...
        """
        raise _unreadable(f"cannot load the BigDL model {model_path!r}", "OpenVINO has no reader for BigDL's format")

    def load(self, model_path: str, weight_path: str | None = None) -> None:
        """Analytics Zoo's deprecated name of [`load_bigdl`][dask_openvino.zoo.InferenceModel.load_bigdl].

        Raises
        ------
        ConversionError
            Always, after a ``DeprecationWarning``, as ``load_bigdl``.

        Examples
        --------
        >>> model.load("model.bigdl")  # doctest: +SKIP
        """
        warnings.warn(
            "InferenceModel.load is deprecated since Analytics Zoo 0.8.0; it is load_bigdl",
            DeprecationWarning,
            stacklevel=2,
        )
        self.load_bigdl(model_path, weight_path)

    def load_caffe(self, model_path: str, weight_path: str) -> None:
        """Refuse a Caffe model: OpenVINO removed its Caffe reader (2023.0).

        Raises
        ------
        ConversionError
            Always, saying how to get an IR (via ONNX).

        Examples
        --------
        >>> model.load_caffe("deploy.prototxt", "model.caffemodel")  # doctest: +SKIP
        """
        raise _unreadable(
            f"cannot load the Caffe model {model_path!r} / {weight_path!r}",
            "OpenVINO removed its Caffe reader in 2023.0",
        )

    def load_tf(
        self,
        model_path: str,
        backend: str = "tensorflow",
        intra_op_parallelism_threads: int = 1,
        inter_op_parallelism_threads: int = 1,
        use_per_session_threads: bool = True,
        model_type: str | None = None,
        ov_pipeline_config_path: str | None = None,
        ov_extensions_config_path: str | None = None,
    ) -> None:
        """Analytics Zoo 0.5-0.8's TensorFlow loader (deprecated there in 0.8.0).

        A frozen graph loads as ``load_tensorflow(model_path, "frozenModel")`` with either
        backend. The ``openvino`` backend's Object Detection API transformations
        (``model_type``, ``ov_pipeline_config_path``, ``ov_extensions_config_path``) were
        Model Optimizer's and are gone from OpenVINO's converter.

        Raises
        ------
        ValueError
            If ``backend`` is not ``tensorflow`` / ``tf`` / ``openvino`` / ``ov``.
        ConversionError
            If the Object Detection transformations are asked for.

        Examples
        --------
        >>> model.load_tf("frozen_graph.pb")  # doctest: +SKIP
        """
        warnings.warn(
            "InferenceModel.load_tf is deprecated since Analytics Zoo 0.8.0; use load_tensorflow",
            DeprecationWarning,
            stacklevel=2,
        )
        if backend.lower() not in ("tensorflow", "tf", "openvino", "ov"):
            raise ValueError(f"backend must be 'tensorflow' or 'openvino', got {backend!r}")
        if model_type or ov_pipeline_config_path or ov_extensions_config_path:
            self.load_tf_object_detection_as_openvino(
                model_path, model_type or "", ov_pipeline_config_path or "", ov_extensions_config_path or ""
            )
        self.load_tensorflow(model_path, "frozenModel")

    def load_tf_object_detection_as_openvino(
        self, model_path: str, object_detection_model_type: str, pipeline_config_path: str, extensions_config_path: str
    ) -> None:
        """Refuse Model Optimizer's TensorFlow Object Detection API conversion: OpenVINO's converter has none.

        Raises
        ------
        ConversionError
            Always: export the detector as a SavedModel (``load_tensorflow(path, "savedModel")``) or to ONNX.

        Examples
        --------
        >>> model.load_tf_object_detection_as_openvino(
        ...     "frozen.pb", "ssd_inception_v2_coco", "pipeline.config", "ssd.json"
        ... )  # doctest: +SKIP
        """
        raise _unreadable(
            f"cannot convert {model_path!r} with the Object Detection API transformations "
            f"({object_detection_model_type!r})",
            "they belonged to Model Optimizer, which OpenVINO removed; a detector exported as a SavedModel loads with "
            "load_tensorflow(path, 'savedModel')",
        )

    def load_tf_image_classification_as_openvino(
        self,
        model_path: str,
        image_classification_model_type: str,
        checkpoint_path: str | None,
        input_shape: Sequence[int],
        if_reverse_input_channels: bool,
        mean_values: Sequence[float],
        scale: float,
    ) -> None:
        """Convert a TensorFlow image classifier with its input arithmetic baked in, as Analytics Zoo 0.5-0.8.

        ``model_path`` (a frozen graph or SavedModel) is converted with ``input_shape``,
        ``mean_values`` subtracted and the result divided by ``scale``, channels reversed
        if asked. A bare ``checkpoint_path`` cannot be converted: Model Optimizer rebuilt
        the graph from TF-Slim's network definitions, and OpenVINO's converter does not.

        Raises
        ------
        ConversionError
            If ``model_path`` is not a file or directory OpenVINO reads.

        Examples
        --------
        >>> model.load_tf_image_classification_as_openvino(
        ...     "frozen.pb", "resnet_v1_50", None, [1, 224, 224, 3], True, [123.68, 116.78, 103.94], 1.0
        ... )  # doctest: +SKIP
        """
        if not model_path or not os.path.exists(model_path):
            raise _unreadable(
                f"cannot convert the {image_classification_model_type!r} checkpoint {checkpoint_path!r} "
                "without a graph",
                "OpenVINO's converter reads frozen graphs and SavedModels, not TF-Slim checkpoints",
            )
        model = convert_tensorflow(model_path)
        self.load_converted(
            convert_model(
                model,
                input_shape=list(input_shape),
                mean_values=[float(v) for v in mean_values],
                scale_values=float(scale),
                reverse_input_channels=bool(if_reverse_input_channels),
            )
        )

    def load_tf_as_calibrated_openvino(self, model_path: str, model_type: str, *args: Any) -> None:
        """Refuse Analytics Zoo 0.5-0.7's calibration: OpenVINO's calibration tool is gone.

        Raises
        ------
        ConversionError
            Always: convert the model, then quantize it with
            [`dask_openvino.quantize`][dask_openvino.quantize.quantize] (NNCF) on calibration rows.

        Examples
        --------
        >>> model.load_tf_as_calibrated_openvino("frozen.pb", "resnet_v1_50", ...)  # doctest: +SKIP
        """
        raise ConversionError(
            f"cannot calibrate {model_path!r} ({model_type!r}): OpenVINO removed its calibration tool; load the FP32 "
            "model (load_tensorflow), then make an INT8 IR with dask_openvino.quantize(model, calibration_frame, ...) "
            "and load_openvino it"
        )
