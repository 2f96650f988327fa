"""The engine as an MLflow pyfunc model, so it can be served with ``mlflow models serve`` or
batch-scored with ``mlflow.pyfunc.spark_udf``. Input: a DataFrame with a ``text`` column (or a list
of strings); output: one row per message with the flattened result."""

from __future__ import annotations

import mlflow.pyfunc


class TriagePyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        from triage.engine import Triage

        self.triage = Triage.load(context.artifacts["model_dir"])

    def predict(self, context, model_input, params=None):
        import pandas as pd

        rows = []
        for r in self.triage.classify_batch(_texts(model_input), errors="return"):
            if isinstance(r, Exception):
                rows.append({"error": str(r)})
                continue
            d = r.to_dict()
            row = {"language": d["language"], "script": d["script"], "district": d["district"],
                   "needs_review": d["needs_review"], "model_version": d["model_version"],
                   "recipient": (d["recipient"] or {}).get("id"), "error": None}
            for h in ("topic", "authority", "urgency"):
                row[h] = d[h]["label"] if d[h] else None
                row[f"{h}_confidence"] = d[h]["confidence"] if d[h] else None
            rows.append(row)
        # The same columns whatever the batch (all rows invalid, or none): spark_udf's result_type
        # and any consumer rely on them.
        return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)


OUTPUT_COLUMNS = ["language", "script", "topic", "topic_confidence", "authority", "authority_confidence",
                  "urgency", "urgency_confidence", "district", "recipient", "needs_review", "model_version", "error"]


def _texts(model_input) -> list:
    """The messages of any input MLflow hands over: a DataFrame with a ``text`` column (or a single
    column), a dict of columns ({"text": [...]}, what serving makes of ``{"inputs": ...}``), a list
    of records or of strings, or one string. Anything else is a clear error, never a guess."""
    import numpy as np
    import pandas as pd

    if isinstance(model_input, np.ndarray) and model_input.ndim == 0:  # serving's {"inputs": "one text"}
        model_input = model_input.item()
    if isinstance(model_input, str):
        return [model_input]
    if isinstance(model_input, dict):
        if "text" not in model_input:
            raise ValueError(f"input has no 'text' field (fields: {', '.join(map(str, model_input))})")
        value = model_input["text"]
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        return [value] if isinstance(value, str) else list(value)
    if isinstance(model_input, pd.DataFrame):
        if "text" in model_input.columns:
            return model_input["text"].tolist()
        if len(model_input.columns) == 1:
            return model_input.iloc[:, 0].tolist()
        raise ValueError(f"input has no 'text' column (columns: {', '.join(map(str, model_input.columns)) or 'none'})")
    items = list(model_input)
    if items and all(isinstance(i, dict) for i in items):
        if not all("text" in i for i in items):
            raise ValueError("every input record needs a 'text' field")
        return [i["text"] for i in items]
    return items
