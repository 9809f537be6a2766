"""Analytics Zoo 0.x on Dask: change ``zoo.`` imports to ``dask_openvino.zoo.``.

``from zoo.pipeline.inference import InferenceModel`` and
``from zoo.orca.learn.openvino import Estimator`` become:

```python
from dask_openvino.zoo import Estimator, InferenceModel
```

[`InferenceModel`][dask_openvino.zoo.inference_model.InferenceModel] is the one of
`dask_openvino`; the [`Estimator`][dask_openvino.zoo.estimator.Estimator]
returns Analytics Zoo's forms (a ``prediction`` column with each row's shape, shards
that keep their keys). Both run in float32 unless told otherwise, as Analytics Zoo did.
BigDL Orca 2.x scripts import [`dask_openvino.orca`][dask_openvino.orca] instead.
"""

from __future__ import annotations

from dask_openvino.zoo.estimator import Estimator, OpenvinoEstimator
from dask_openvino.zoo.inference_model import InferenceModel

__all__ = ["Estimator", "InferenceModel", "OpenvinoEstimator"]
