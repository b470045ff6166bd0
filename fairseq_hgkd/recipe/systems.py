"""The systems a recipe trains: the teacher and the students compared in the report."""
from dataclasses import dataclass, field
from typing import List


@dataclass(frozen=True)
class System:
    name: str
    criterion_args: List[str] = field(default_factory=list)
    uses_teacher: bool = False  # distils from the teacher's distribution during training
    seq_kd_data: bool = False  # trains on the teacher's beam-search translations
    # fairseq's cross_entropy logs the gold NLL as "loss"; the others as "nll_loss"
    best_metric: str = "nll_loss"
    description: str = ""


TEACHER = System("teacher", ["--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1"],
                 description="the teacher: cross-entropy with label smoothing 0.1")

STUDENTS = {
    s.name: s
    for s in (
        System("base", ["--criterion", "cross_entropy"], best_metric="loss",
               description="plain cross-entropy (the paper's Base)"),
        System("ls", ["--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1"],
               description="label smoothing 0.1"),
        System("word_kd", ["--criterion", "word_kd", "--kd-alpha", "0.5"], uses_teacher=True,
               description="word-level KD, alpha 0.5"),
        System("seq_kd", ["--criterion", "cross_entropy"], seq_kd_data=True, best_metric="loss",
               description="sequence-level KD: cross-entropy on the teacher's beam-search translations"),
        System("hgkd_token", ["--criterion", "hgkd_token"], uses_teacher=True,
               description="HKD-T, gate on the gold token"),
        System("hgkd_sentence", ["--criterion", "hgkd_sentence"], uses_teacher=True,
               description="HKD-S, gate on the gold sentence"),
        System("hgkd_token_prediction", ["--criterion", "hgkd_token", "--gate-on", "prediction"],
               uses_teacher=True, description="HKD-T, gate on the student's prediction"),
        System("hgkd_sentence_prediction", ["--criterion", "hgkd_sentence", "--gate-on", "prediction"],
               uses_teacher=True, description="HKD-S, gate on the student's predictions"),
    )
}

DEFAULT_STUDENTS = ["base", "ls", "word_kd", "seq_kd", "hgkd_token", "hgkd_sentence"]
