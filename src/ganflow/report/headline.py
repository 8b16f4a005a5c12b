"""The headline numbers of metric files: what `dvc metrics show`, `dvc exp show` and the reports list.

Every metric file (results/<exp>/<metric>.json) names its ``metric`` and holds its ``value``: a
number, or a dict of named numbers (one per direction, say).  Kept apart from the report code so
that the evaluate stage, which writes results/<exp>/metrics.json, does not depend on it.
"""
from __future__ import annotations


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def headline(record: dict) -> dict[str, float]:
    """{label: number} of a metric file's value: one entry, or one per key of a dict value."""
    value = record.get("value")
    name = record.get("metric", "value")
    if _is_number(value):
        return {name: float(value)}
    if isinstance(value, dict):
        return {f"{name}.{k}": float(v) for k, v in value.items() if _is_number(v)}
    return {}


def headline_numbers(metrics: dict[str, dict]) -> dict[str, float]:
    """{metric: value} over metric files ({"fid": 85.2, "rmse": 0.043, ...}): what DVC shows."""
    out: dict[str, float] = {}
    for record in metrics.values():
        out.update(headline(record))
    return out
