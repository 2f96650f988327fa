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

        if isinstance(model_input, pd.DataFrame):
            texts = model_input["text" if "text" in model_input.columns else model_input.columns[0]].tolist()
        else:
            texts = list(model_input)
        rows = []
        for r in self.triage.classify_batch(texts, errors="return"):
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
        return pd.DataFrame(rows)
