"""The dask-openvino benchmark harness: ``python -m benchmarks [--quick]`` (or ``nox -s bench``).

Measures ``ddf.ov.predict`` against OpenVINO alone on numpy arrays (the limit), ONNX
Runtime and eager PyTorch in the same Dask pipeline, on a ResNet-50, a MiniLM encoder
and a tabular MLP, in FP32 and INT8; plus compile time with and without a compile
cache, worker memory, and the hand measurements the tuning relies on. Writes JSON
under ``benchmarks/results/``, prints a Markdown table and draws a PNG chart.
"""
