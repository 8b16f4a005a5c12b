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


def is_interval(v) -> bool:
    """Whether ``v`` is an interval record as metrics/bootstrap.py writes it (low, high, ...)."""
    return isinstance(v, dict) and _is_number(v.get("low")) and _is_number(v.get("high"))


def interval_for(record: dict, label: str) -> dict | None:
    """The interval of one headline number (a label of :func:`headline`) or of a number beside it.

    The headline's own is ``record["interval"]``; one of a dict value's entries (a direction, a
    domain) sits in its entry of a dict of dicts (``directions.A2B.interval``); a number beside it
    has ``<key>_interval`` (``psnr_db`` also ``psnr_interval``) or, as cyclegan's top-level
    ``A2B``, its entry's.  None where the file has none.
    """
    name = record.get("metric", "value")
    if label == name:
        return record["interval"] if is_interval(record.get("interval")) else None
    key = label.removeprefix(f"{name}.")
    for candidate in (f"{key}_interval", f"{key.removesuffix('_db')}_interval"):
        if label == key and is_interval(record.get(candidate)):
            return record[candidate]
    for group in record.values():  # an entry of a dict value: directions.A2B.interval
        if isinstance(group, dict) and isinstance(group.get(key), dict) and is_interval(group[key].get("interval")):
            return group[key]["interval"]
    return None


def headline_numbers(metrics: dict[str, dict]) -> dict[str, float]:
    """{metric: value} over metric files ({"fid": 85.2, "rmse": 0.043, ...}): what DVC shows."""
    out: dict[str, float] = {}
    for record in metrics.values():
        out.update(headline(record))
    return out
