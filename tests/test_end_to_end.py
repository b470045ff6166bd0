"""The plugin through the real CLIs on a small Multi30K corpus: fairseq-train and fairseq-generate."""
import math
import os
import shutil

import pytest
import torch

from conftest import (
    CRITERIA,
    USER_DIR,
    RunsCode,
    cli,
    fairseq_train,
    json_logs,
    last_with,
    one_line_error,
    rewrite_checkpoint,
    run,
)

COMMON_KEYS = ("loss", "nll_loss", "ppl", "kd_loss", "teacher_nll", "agree", "ece", "mce")


def test_teacher_run_reports_calibration_without_a_teacher(teacher_checkpoint):
    valid = last_with(teacher_checkpoint["logs"], "valid_ece")
    assert 0.0 <= valid["valid_ece"] <= valid["valid_mce"] <= 100.0
    assert "valid_bleu" in valid and valid["valid_num_updates"] == 60


@pytest.mark.parametrize("name", sorted(CRITERIA))
def test_student_logs_gate_statistics_and_calibration(students, name):
    logs = students[name]["logs"]
    train = last_with(logs, "train_loss")
    valid = last_with(logs, "valid_loss")
    keys = COMMON_KEYS + (("kd_frac",) if name.startswith("hgkd") else ())
    for prefix, record in (("train_", train), ("valid_", valid)):
        for key in keys:
            assert prefix + key in record, f"{prefix + key} missing from {sorted(record)}"
            assert math.isfinite(record[prefix + key])
        assert 0.0 <= record[prefix + "agree"] <= 1.0
        assert 0.0 <= record[prefix + "ece"] <= record[prefix + "mce"] + 0.01 <= 100.01
        assert record[prefix + "kd_loss"] >= 0.0
        if name.startswith("hgkd"):
            assert 0.0 <= record[prefix + "kd_frac"] <= 1.0
    assert valid["valid_num_updates"] == 20
    assert "kd_frac" not in " ".join(valid) or name.startswith("hgkd")


def test_teacher_is_frozen_and_in_eval_mode(students, teacher_checkpoint):
    # the teacher's NLL measured inside every student run equals the teacher's own validation NLL
    # (same weights, same batches, dropout off), and stays the same however the student trains
    teacher_nll = last_with(teacher_checkpoint["logs"], "valid_nll_loss")["valid_nll_loss"]
    for name, student in students.items():
        seen = {r["valid_teacher_nll"] for r in student["logs"] if "valid_teacher_nll" in r}
        assert seen == {teacher_nll}, name


def test_student_checkpoint_has_no_teacher(students, teacher_checkpoint):
    from fairseq_hgkd.safe_checkpoint import load_checkpoint

    teacher = load_checkpoint(teacher_checkpoint["path"])
    teacher_size = os.path.getsize(teacher_checkpoint["path"])
    for name, student in students.items():
        path = os.path.join(student["dir"], "checkpoint_last.pt")
        state = load_checkpoint(path)
        # same architecture as the teacher here: exactly the student's own weights, nothing more
        assert set(state["model"]) == set(teacher["model"]), name
        assert not any("teacher" in key for key in state["model"])
        # the optimizer holds state for exactly as many tensors as a teacher-less run
        assert len(state["last_optimizer_state"]["state"]) == len(teacher["last_optimizer_state"]["state"])
        assert abs(os.path.getsize(path) - teacher_size) / teacher_size < 0.05, name


def test_resume_from_checkpoint_last_continues(data_bin, teacher_checkpoint, tmp_path):
    save = str(tmp_path / "resume")
    args = ["--task", "translation_with_teacher", "--teacher-path", teacher_checkpoint["path"],
            "--criterion", "hgkd_token", "--max-valid-steps", "2"]
    fairseq_train(data_bin, save, *args, "--max-update", "10")
    result = fairseq_train(data_bin, save, *args, "--max-update", "25")
    output = result.stdout + result.stderr
    assert "Loaded checkpoint" in output and "@ 10 updates" in output
    logs = json_logs(output)
    assert last_with(logs, "valid_loss")["valid_num_updates"] == 25
    resumed_inner = [r for r in logs if "kd_frac" in r and "update" in r]
    assert resumed_inner and all(r["num_updates"] > 10 for r in resumed_inner)


def test_generate_works_after_teacher_is_deleted(data_bin, teacher_copy, tmp_path):
    save = str(tmp_path / "student")
    fairseq_train(data_bin, save, "--task", "translation_with_teacher", "--teacher-path", teacher_copy,
                  "--criterion", "hgkd_sentence", "--max-update", "10", "--max-valid-steps", "1")
    os.remove(teacher_copy)
    student = os.path.join(save, "checkpoint_last.pt")
    result = run([cli("fairseq-generate"), data_bin, "--user-dir", USER_DIR, "--path", student,
                  "--task", "translation_with_teacher", "--gen-subset", "test", "--beam", "2",
                  "--max-tokens", "4000", "--cpu", "--remove-bpe", "sentencepiece"])
    hypotheses = [line for line in result.stdout.splitlines() if line.startswith("H-")]
    assert len(hypotheses) == 1000

    # hub-style loading rebuilds the task from the checkpoint's own config (which still names
    # the deleted teacher): it must not try to load it
    code = (
        "import fairseq_hgkd; from fairseq import checkpoint_utils as c; "
        f"m, cfg, task = c.load_model_ensemble_and_task([{student!r}]); "
        "assert task.teacher is None and cfg.task.teacher_path; print('loaded', type(m[0]).__name__)"
    )
    assert "loaded TransformerModel" in run([cli("python"), "-c", code]).stdout


def test_teacher_with_other_dictionary_is_refused_before_training(data_bin, teacher_checkpoint, tmp_path):
    def swap_two_symbols(state):
        symbols = state["task_state"]["hgkd_data_signature"]["target_dictionary"]
        symbols[57], symbols[58] = symbols[58], symbols[57]

    bad = rewrite_checkpoint(teacher_checkpoint["path"], str(tmp_path / "bad.pt"), swap_two_symbols)
    save = str(tmp_path / "student")
    result = fairseq_train(data_bin, save, "--task", "translation_with_teacher", "--teacher-path", bad,
                           "--criterion", "hgkd_token", "--max-update", "5", check=False)
    assert result.returncode != 0
    line = one_line_error(result.stderr)
    assert "target dictionary differs" in line and "index 57" in line
    assert "Traceback" not in result.stderr
    assert not os.path.exists(os.path.join(save, "checkpoint_last.pt"))


def test_checkpoint_with_forbidden_global_is_refused_and_never_runs(data_bin, teacher_checkpoint, tmp_path):
    marker = tmp_path / "code-ran"
    evil = rewrite_checkpoint(
        teacher_checkpoint["path"], str(tmp_path / "evil.pt"),
        lambda state: state["extra_state"].update(payload=RunsCode(str(marker))),
    )
    result = fairseq_train(data_bin, str(tmp_path / "student"), "--task", "translation_with_teacher",
                           "--teacher-path", evil, "--criterion", "hgkd_token", "--max-update", "5",
                           check=False)
    assert result.returncode != 0
    line = one_line_error(result.stderr)
    assert "posix.system" in line and "HGKD_TRUST_CHECKPOINTS=1" in line
    result = run([cli("fairseq-generate"), data_bin, "--user-dir", USER_DIR, "--path", evil,
                  "--gen-subset", "valid", "--cpu", "--max-tokens", "2000"], check=False)
    assert result.returncode != 0
    assert "posix.system" in one_line_error(result.stderr)
    assert not marker.exists()
