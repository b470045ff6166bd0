"""Calibration statistics in fairseq's logging outputs and metrics (the glue around calibration.py).

Each bin's count, confidence sum and correctness sum travel as their own summable scalar so that
fairseq can add them over micro-batches and GPUs (fast stat sync); `reduce` keeps running sums in
hidden meters (names starting with "_") and derives ECE and MCE, in percent, from those sums.
"""
from typing import Dict, List

import torch
from fairseq import utils
from fairseq.logging import metrics

from fairseq_hgkd.calibration import DEFAULT_BINS, calibration_errors

_ROWS = ("count", "conf", "correct")


def _key(row: str, b: int) -> str:
    return f"_cal_{row}_{b}"


def logging_output(stats: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Flatten (3, n_bins) bin statistics into summable logging-output entries."""
    return {_key(row, b): stats[r, b] for r, row in enumerate(_ROWS) for b in range(stats.size(1))}


def has_calibration(logging_output: dict) -> bool:
    return _key("count", 0) in logging_output


def _bins(logging_outputs: List[dict]) -> int:
    n = 0
    while any(_key("count", n) in log for log in logging_outputs):
        n += 1
    return n


def _stats_from_meters(meters, n_bins: int) -> torch.Tensor:
    return torch.tensor(
        [[meters[_key(row, b)].sum for b in range(n_bins)] for row in _ROWS], dtype=torch.float64
    )


def reduce(logging_outputs: List[dict]) -> None:
    """Accumulate the bin sums into metrics and derive `ece` and `mce` (percent)."""
    n_bins = _bins(logging_outputs)
    if n_bins == 0:
        return
    for row in _ROWS:
        for b in range(n_bins):
            key = _key(row, b)
            metrics.log_scalar_sum(key, utils.item(sum(log.get(key, 0) for log in logging_outputs)))

    def error(meters, which: int) -> float:
        value = calibration_errors(_stats_from_meters(meters, n_bins))[which]
        return round(100.0 * value, 2)

    metrics.log_derived("ece", lambda meters: error(meters, 0))
    metrics.log_derived("mce", lambda meters: error(meters, 1))


__all__ = ["DEFAULT_BINS", "logging_output", "has_calibration", "reduce"]
