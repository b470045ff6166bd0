"""Token-level calibration: per-bin sufficient statistics and the errors derived from them.

Confidence is the maximum probability of a position's distribution; a position is correct when
that argmax equals the gold token (teacher-forced). Bins are equal-width on (0, 1]: bin i holds
confidences in (i/n, (i+1)/n], with confidence 0 in bin 0. The statistics (count, summed
confidence, summed correctness per bin) add up exactly over batches and workers, so the expected
and maximum calibration errors computed from their sums are exact for a whole dataset.
"""
from typing import Tuple

import torch

DEFAULT_BINS = 10


def confidence_and_prediction(lprobs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Max probability and argmax token per position, from (B, T, V) log-probabilities."""
    with torch.no_grad():
        max_lprob, prediction = lprobs.max(dim=-1)
        return max_lprob.float().exp(), prediction


@torch.no_grad()
def bin_statistics(
    confidence: torch.Tensor,
    correct: torch.Tensor,
    mask: torch.Tensor,
    n_bins: int = DEFAULT_BINS,
) -> torch.Tensor:
    """Per-bin [count, sum of confidence, sum of correct] over the masked positions: (3, n_bins) float64."""
    conf = confidence[mask].double()
    hits = correct[mask].double()
    inner_edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64, device=conf.device)[1:-1]
    bins = torch.bucketize(conf, inner_edges, right=False)  # edges[i-1] < conf <= edges[i]
    stats = torch.zeros(3, n_bins, dtype=torch.float64, device=conf.device)
    stats[0].index_add_(0, bins, torch.ones_like(conf))
    stats[1].index_add_(0, bins, conf)
    stats[2].index_add_(0, bins, hits)
    return stats


def calibration_errors(stats: torch.Tensor) -> Tuple[float, float]:
    """(ECE, MCE) as fractions in [0, 1] from summed `bin_statistics`; NaN when there are no tokens.

    ECE = sum_b n_b/N * |acc_b - conf_b|;  MCE = max over non-empty bins of |acc_b - conf_b|.
    """
    stats = torch.as_tensor(stats, dtype=torch.float64)
    count, conf_sum, correct_sum = stats[0], stats[1], stats[2]
    total = count.sum()
    if total <= 0:
        return float("nan"), float("nan")
    gap = (conf_sum - correct_sum).abs()
    ece = gap.sum() / total
    nonempty = count > 0
    mce = (gap[nonempty] / count[nonempty]).max()
    return float(ece), float(mce)
