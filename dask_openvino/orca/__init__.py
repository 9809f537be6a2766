"""BigDL Orca 2.x on Dask: change ``bigdl.orca.`` imports to ``dask_openvino.orca``.

``from bigdl.orca.inference import InferenceModel`` and
``from bigdl.orca.learn.openvino import Estimator`` become:

```python
from dask_openvino.orca import Estimator, InferenceModel
```

[`InferenceModel`][dask_openvino.zoo.inference_model.InferenceModel] is the one of
`dask_openvino` (BigDL kept Analytics Zoo's); the
[`Estimator`][dask_openvino.orca.estimator.Estimator] returns BigDL Orca's forms
(tensor-named ``[1, ...]`` columns, raw arrays per shard). Both run in float32 unless
told otherwise, as Orca did.
"""

from __future__ import annotations

from dask_openvino.orca.estimator import Estimator, OpenvinoEstimator
from dask_openvino.zoo.inference_model import InferenceModel

__all__ = ["Estimator", "InferenceModel", "OpenvinoEstimator"]
