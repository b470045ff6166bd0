"""Evaluation pieces: temperature fitting, BLEU/chrF scoring, checkpoint averaging, hgkd-eval."""
import math
import os

import pytest
import torch

from conftest import cli, run
from fairseq_hgkd.evaluation import bleu
from fairseq_hgkd.temperature_scaling import newton_terms


def test_newton_terms_match_finite_differences():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 11, dtype=torch.float64) * 3  # float64: finite differences
    target = torch.randint(0, 11, (2, 5))
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1, 3:] = False

    def nll(beta):
        return float(newton_terms(logits, target, mask, beta)[0])

    beta, h = 0.7, 1e-4
    terms = newton_terms(logits, target, mask, beta)
    assert float(terms[1]) == pytest.approx((nll(beta + h) - nll(beta - h)) / (2 * h), rel=1e-3)
    second = (nll(beta + h) - 2 * nll(beta) + nll(beta - h)) / h**2
    assert float(terms[2]) == pytest.approx(second, rel=1e-2)


def test_fitted_temperature_minimizes_validation_nll(data_bin, teacher_checkpoint):
    from fairseq_hgkd.evaluation import teacher_forced

    loaded = teacher_forced.load_model(data_bin, teacher_checkpoint["path"], cpu=True)
    fitted = teacher_forced.fit_temperature(loaded, "valid")
    best = fitted["temperature"]
    at_best = teacher_forced.evaluate(loaded, "valid", temperature=best)["nll"]
    assert at_best == pytest.approx(fitted["nll"], rel=1e-6)
    for factor in (0.8, 0.95, 1.05, 1.25):
        assert teacher_forced.evaluate(loaded, "valid", temperature=best * factor)["nll"] >= at_best - 1e-6
    assert fitted["nll"] <= fitted["nll_at_1"]


def test_bleu_reads_generate_output_in_order_and_counts_missing(tmp_path):
    output = tmp_path / "generate-test.txt"
    output.write_text(
        "S-1\tquelle\nH-1\t-0.5\t\u2581the \u2581cat \u2581sat\nD-1\t-0.5\tthe cat sat\n"
        "H-0\t-0.2\t\u2581hello \u2581world\n"
    )
    hyps, missing = bleu.ordered_hypotheses(str(output), 3)
    assert hyps == ["hello world", "the cat sat", ""] and missing == 1
    refs = ["hello world", "the cat sat", "a dog"]
    import sacrebleu

    scores = bleu.score(hyps, refs)
    assert scores["bleu"] == round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2)
    assert scores["bleu_signature"].startswith("nrefs:1")
    with pytest.raises(Exception, match="generated on another subset"):
        bleu.ordered_hypotheses(str(output), 1)


def test_average_of_two_checkpoints_is_their_mean(teacher_checkpoint, students, tmp_path):
    from fairseq_hgkd.checkpoint_average import average_checkpoints
    from fairseq_hgkd.safe_checkpoint import load_checkpoint

    other = os.path.join(students["hgkd_token"]["dir"], "checkpoint_last.pt")
    out = str(tmp_path / "avg.pt")
    average_checkpoints([teacher_checkpoint["path"], other], out)
    a, b, avg = (load_checkpoint(p)["model"] for p in (teacher_checkpoint["path"], other, out))
    key = "decoder.layers.0.fc1.weight"
    assert torch.allclose(avg[key], (a[key] + b[key]) / 2, atol=1e-6)
    result = run([cli("hgkd-average"), teacher_checkpoint["path"], other, "--output", out], check=False)
    assert result.returncode == 2 and "exists; pass --force" in result.stderr


def test_hgkd_average_refuses_bad_arguments_in_one_line(tmp_path):
    out = str(tmp_path / "avg.pt")
    missing = run([cli("hgkd-average"), str(tmp_path / "no_such_run"), "--last", "2", "--output", out],
                  check=False)
    assert missing.returncode == 2 and "is not a directory" in missing.stderr
    assert "Traceback" not in missing.stderr
    zero = run([cli("hgkd-average"), str(tmp_path), "--last", "0", "--output", out], check=False)
    assert zero.returncode == 2 and "--last must be >= 1, got 0" in zero.stderr
    assert not os.path.exists(out)


def test_hgkd_eval_cli_report_and_errors(data_bin, teacher_checkpoint, tmp_path):
    out = tmp_path / "report"
    result = run([cli("hgkd-eval"), data_bin, "--subset", "valid", "--checkpoint",
                  f"teacher={teacher_checkpoint['path']}", "--out", str(out), "--cpu"])
    assert "report.json" in result.stdout
    import json

    entry = json.load(open(out / "report.json"))["systems"]["teacher"]
    assert 0 <= entry["ece"] <= entry["mce"] <= 100 and math.isfinite(entry["nll"])
    assert "bleu" not in entry  # no --generated: teacher-forced metrics only
    bad = run([cli("hgkd-eval"), data_bin, "--checkpoint", f"t={teacher_checkpoint['path']}",
               "--generated", "x=/tmp/none.txt"], check=False)
    assert bad.returncode == 2 and "--generated names ['x'] have no --checkpoint" in bad.stderr
