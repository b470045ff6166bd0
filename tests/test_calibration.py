"""Calibration bins and ECE/MCE against hand computation and a direct numpy implementation."""
import numpy as np
import pytest
import torch

from fairseq_hgkd.calibration import bin_statistics, calibration_errors, confidence_and_prediction


def numpy_ece_mce(confidence, correct, n_bins=10):
    """Textbook ECE/MCE (Guo et al. 2017): equal-width bins (lo, hi]."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ece, mce, n = 0.0, 0.0, len(confidence)
    for b in range(n_bins):
        lo, hi = edges[b], edges[b + 1]
        in_bin = (confidence > lo) & (confidence <= hi) if b > 0 else (confidence <= hi)
        if in_bin.sum() == 0:
            continue
        gap = abs(confidence[in_bin].mean() - correct[in_bin].mean())
        ece += in_bin.sum() / n * gap
        mce = max(mce, gap)
    return ece, mce


def test_hand_computed_example():
    confidence = torch.tensor([[0.95, 0.95, 0.55, 0.15, 0.99]])
    correct = torch.tensor([[True, False, True, False, True]])
    mask = torch.tensor([[True, True, True, True, False]])  # the last one is padding
    stats = bin_statistics(confidence, correct, mask)
    assert stats[0].tolist() == [0, 1, 0, 0, 0, 1, 0, 0, 0, 2]
    ece, mce = calibration_errors(stats)
    # bin 9: |0.95 - 0.5| = 0.45 (2 tokens); bin 5: |0.55 - 1| = 0.45; bin 1: |0.15 - 0| = 0.15
    assert ece == pytest.approx((2 * 0.45 + 0.45 + 0.15) / 4)
    assert mce == pytest.approx(0.45)


def test_matches_numpy_and_is_exact_when_summed_over_batches():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.0, 1.0, size=(6, 50))
    correct = rng.uniform(size=(6, 50)) < confidence**1.5  # over-confident on purpose
    mask = rng.uniform(size=(6, 50)) < 0.8
    expected = numpy_ece_mce(confidence[mask], correct[mask])

    conf_t, corr_t, mask_t = map(torch.tensor, (confidence, correct, mask))
    whole = calibration_errors(bin_statistics(conf_t, corr_t, mask_t))
    assert whole == pytest.approx(expected, rel=1e-9)
    # the same tokens split into three "workers" and summed
    summed = sum(bin_statistics(conf_t[i:i + 2], corr_t[i:i + 2], mask_t[i:i + 2]) for i in (0, 2, 4))
    assert calibration_errors(summed) == pytest.approx(expected, rel=1e-9)


def test_confidence_one_and_zero_fall_in_the_edge_bins():
    # float64: 0.1 in float32 is slightly above the 0.1 edge
    stats = bin_statistics(torch.tensor([1.0, 0.0, 0.1, 0.1000001], dtype=torch.float64), torch.tensor([True, False, False, True]),
                           torch.ones(4, dtype=torch.bool))
    assert stats[0].tolist() == [2, 1, 0, 0, 0, 0, 0, 0, 0, 1]


def test_no_tokens_gives_nan():
    ece, mce = calibration_errors(torch.zeros(3, 10))
    assert np.isnan(ece) and np.isnan(mce)


def test_confidence_and_prediction_from_log_probs():
    lprobs = torch.tensor([[[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]]]).log()
    confidence, prediction = confidence_and_prediction(lprobs)
    assert prediction.tolist() == [[1, 0]]
    assert confidence[0].tolist() == pytest.approx([0.7, 0.5], rel=1e-6)
