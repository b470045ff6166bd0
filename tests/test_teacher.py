"""Teacher loading, compatibility checks, ensembles and the criterion's use of the teacher."""
import os
import shutil

import pytest
import torch

from conftest import build_task, first_batch, rewrite_checkpoint
from fairseq_hgkd.calibration import confidence_and_prediction
from fairseq_hgkd.gates import sentence_gate, token_gate
from fairseq_hgkd.teacher import TeacherError, first_difference, load_teacher


def test_first_difference():
    assert first_difference(["a", "b"], ["a", "b"]) is None
    assert first_difference(["a", "b", "c"], ["a", "x", "c"]) == (1, "b", "x")
    assert first_difference(["a", "b"], ["a", "b", "c"]) == (2, "<end of dictionary>", "c")


def _without_signature(state):
    del state["task_state"]["hgkd_data_signature"]


def test_opposite_direction_is_refused(data_bin, teacher_checkpoint, tmp_path):
    def reverse(state):
        sig = state["task_state"]["hgkd_data_signature"]
        sig["source_lang"], sig["target_lang"] = sig["target_lang"], sig["source_lang"]

    path = rewrite_checkpoint(teacher_checkpoint["path"], str(tmp_path / "en-de.pt"), reverse)
    task, _ = build_task(data_bin)
    with pytest.raises(TeacherError, match=r"translates en->de \(the opposite direction\) but the data is de->en"):
        load_teacher(path, task)


def test_dictionary_of_other_size_is_refused(data_bin, teacher_checkpoint, tmp_path):
    def grow(state):
        state["task_state"]["hgkd_data_signature"]["source_dictionary"].append("extra")

    path = rewrite_checkpoint(teacher_checkpoint["path"], str(tmp_path / "big.pt"), grow)
    task, _ = build_task(data_bin)
    n = len(task.source_dictionary)
    with pytest.raises(TeacherError, match=f"source dictionary differs .* at index {n} .*sizes {n + 1} vs {n}"):
        load_teacher(path, task)


def test_teacher_of_plain_translation_is_checked_with_its_dictionary_files(data_bin, teacher_checkpoint, tmp_path):
    moved_data = str(tmp_path / "moved")

    def forget_signature_and_data(state):
        _without_signature(state)
        state["cfg"]["task"]["data"] = moved_data

    os.makedirs(tmp_path / "ckpt")
    path = rewrite_checkpoint(teacher_checkpoint["path"], str(tmp_path / "ckpt" / "t.pt"),
                              forget_signature_and_data)
    task, _ = build_task(data_bin)
    with pytest.raises(TeacherError, match="copy the teacher's dictionary files next to the checkpoint"):
        load_teacher(path, task)
    for lang in ("de", "en"):
        shutil.copy(os.path.join(data_bin, f"dict.{lang}.txt"), tmp_path / "ckpt")
    assert len(load_teacher(path, task).models) == 1


def test_one_incompatible_ensemble_member_is_named(data_bin, teacher_checkpoint, tmp_path):
    def swap(state):
        symbols = state["task_state"]["hgkd_data_signature"]["source_dictionary"]
        symbols[10], symbols[11] = symbols[11], symbols[10]

    bad = rewrite_checkpoint(teacher_checkpoint["path"], str(tmp_path / "member2.pt"), swap)
    task, _ = build_task(data_bin)
    with pytest.raises(TeacherError, match=r"member2\.pt: its source dictionary differs .* index 10"):
        load_teacher(f"{teacher_checkpoint['path']}:{bad}", task)


def test_ensemble_and_temperature(data_bin, teacher_checkpoint):
    task, _ = build_task(data_bin)
    batch = first_batch(task)
    student = task.build_model(build_task(data_bin)[1].model)
    single = load_teacher(teacher_checkpoint["path"], task).log_probs(batch["net_input"], student)
    path = teacher_checkpoint["path"]
    double = load_teacher(f"{path}:{path}", task).log_probs(batch["net_input"], student)
    assert torch.allclose(single, double, atol=1e-6)  # the mean of two equal members is the member
    hot = load_teacher(path, task, temperature=2.0).log_probs(batch["net_input"], student)
    assert torch.allclose(hot, torch.log_softmax(single / 2.0, dim=-1), atol=1e-5)
    assert single.dtype == torch.float32 and not single.requires_grad


def test_teacher_stays_frozen_outside_the_student(data_bin, teacher_checkpoint):
    task, cfg = build_task(data_bin, "--teacher-path", teacher_checkpoint["path"], "--dropout", "0.3")
    student = task.build_model(cfg.model)
    teacher = task.teacher
    assert teacher is not None
    batch = first_batch(task)
    student.train()
    first = task.teacher_distribution(batch, student).probs
    second = task.teacher_distribution(batch, student).probs
    assert torch.equal(first, second)  # dropout is off in the teacher although the student trains
    teacher_params = {id(p) for m in teacher.models for p in m.parameters()}
    assert not teacher_params & {id(p) for p in student.parameters()}
    assert all(not p.requires_grad for m in teacher.models for p in m.parameters())
    assert not any(k.startswith("teacher") for k in student.state_dict())
    # rebuilding for generation never loads the teacher
    task2, cfg2 = build_task(data_bin, "--teacher-path", "/nonexistent/teacher.pt")
    task2.build_model(cfg2.model, from_checkpoint=True)
    assert task2.teacher is None


def test_teacher_follows_student_dtype(data_bin, teacher_checkpoint):
    task, cfg = build_task(data_bin, "--teacher-path", teacher_checkpoint["path"])
    student = task.build_model(cfg.model).to(torch.bfloat16)
    batch = first_batch(task)
    probs = task.teacher_distribution(batch, student).probs
    assert next(task.teacher.models[0].parameters()).dtype == torch.bfloat16
    assert probs.dtype == torch.float32 and torch.isfinite(probs).all()
    assert torch.allclose(probs.sum(-1), torch.ones(probs.shape[:-1]), atol=1e-4)


@pytest.mark.parametrize("criterion", ["hgkd_token", "hgkd_sentence"])
@pytest.mark.parametrize("sentence_avg", [False, True])
def test_criterion_logging_matches_pure_functions(data_bin, teacher_checkpoint, criterion, sentence_avg):
    extra = ["--sentence-avg"] if sentence_avg else []
    task, cfg = build_task(data_bin, "--teacher-path", teacher_checkpoint["path"],
                           "--criterion", criterion, *extra)
    student = task.build_model(cfg.model)
    crit = task.build_criterion(cfg.criterion)
    batch = first_batch(task)
    student.eval()
    loss, sample_size, log = crit(student, batch)

    with torch.no_grad():
        p = student.get_normalized_probs(student(**batch["net_input"]), log_probs=True).float()
        q = task.teacher.log_probs(batch["net_input"], student)
    target = batch["target"]
    mask = target.ne(task.target_dictionary.pad())
    if criterion == "hgkd_token":
        routed, units = token_gate(p, q, target, mask).sum(), mask.sum()
    else:
        routed, units = sentence_gate(p, q, target, mask).sum(), target.size(0)
    assert int(log["kd_routed"]) == int(routed) and int(log["kd_units"]) == int(units)
    assert sample_size == (target.size(0) if sentence_avg else batch["ntokens"])
    _, prediction = confidence_and_prediction(p)
    correct = (prediction.eq(target) & mask).sum()
    assert int(sum(float(log[f"_cal_correct_{b}"]) for b in range(10))) == int(correct)
    assert int(sum(float(log[f"_cal_count_{b}"]) for b in range(10))) == int(mask.sum())
