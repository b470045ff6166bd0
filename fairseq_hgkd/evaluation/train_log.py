"""Reading fairseq-train's --log-format json output (the recipes keep it in train.log)."""
import json
import os
from typing import List, Optional


def records(path: str) -> List[dict]:
    if not os.path.isfile(path):
        return []
    found = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            start = line.find("{")
            if start < 0 or '"epoch"' not in line:
                continue
            try:
                found.append(json.loads(line[start:]))
            except ValueError:
                continue
    return found


def _number(value) -> Optional[float]:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def per_epoch(path: str, key: str) -> List[float]:
    """The end-of-epoch values of e.g. 'train_kd_frac', last write of each epoch winning."""
    values = {}
    for record in records(path):
        if key in record and "epoch" in record:
            value = _number(record[key])
            if value is not None:
                values[int(record["epoch"])] = value
    return [values[e] for e in sorted(values)]


def final(path: str, key: str) -> Optional[float]:
    series = per_epoch(path, key)
    return series[-1] if series else None
