"""Hard-gate KD criteria: HKD-T (`hgkd_token`, one gate per token) and HKD-S (`hgkd_sentence`).

Where the student is over-confident, p(c) > q(c), it learns from the teacher only (KL(q || p));
elsewhere from the gold data only (NLL). c is the gold token (--gate-on gold, default) or the
student's own teacher-forced prediction (--gate-on prediction).
"""
from dataclasses import dataclass, field

from fairseq.criterions import register_criterion
from fairseq.dataclass import ChoiceEnum

from fairseq_hgkd.criterions.distillation_criterion import (
    DistillationCriterion,
    DistillationCriterionConfig,
)
from fairseq_hgkd.errors import HgkdError
from fairseq_hgkd.gates import GATE_ON_CHOICES, sentence_gate_from_scores, token_gate_from_scores


@dataclass
class HardGateKDConfig(DistillationCriterionConfig):
    gate_on: ChoiceEnum(list(GATE_ON_CHOICES)) = field(
        default="gold",
        metadata={"help": "token whose probabilities the gate compares: the gold token, or the "
                          "student's own (teacher-forced) prediction"},
    )


class _HardGateKD(DistillationCriterion):
    def __init__(self, task, sentence_avg, label_smoothing=0.0, gate_on="gold"):
        super().__init__(task, sentence_avg, label_smoothing)
        self.gate_on = str(gate_on)
        if self.gate_on not in GATE_ON_CHOICES:
            raise HgkdError(f"--gate-on must be one of {', '.join(GATE_ON_CHOICES)}, got {self.gate_on!r}")

    def gates(self, student_score, teacher_score, mask):
        """(token gates (B, T), number routed to the teacher, number of gated units)."""
        raise NotImplementedError

    def mixing(self, scores, mask):
        student_score, teacher_score = scores[self.gate_on]
        token_gates, routed, units = self.gates(student_score, teacher_score, mask)
        gates = token_gates.float()
        return gates, 1.0 - gates, {"kd_routed": routed, "kd_units": units}


@register_criterion("hgkd_token", dataclass=HardGateKDConfig)
class TokenHardGateKD(_HardGateKD):
    """HKD-T: gate g_t = [p(c_t) > q(c_t)] for every target token."""

    def gates(self, student_score, teacher_score, mask):
        g = token_gate_from_scores(student_score, teacher_score, mask)
        return g, g.sum(), mask.sum()


@register_criterion("hgkd_sentence", dataclass=HardGateKDConfig)
class SentenceHardGateKD(_HardGateKD):
    """HKD-S: one gate per sentence, g = [sum_t log p(c_t) > sum_t log q(c_t)]."""

    def gates(self, student_score, teacher_score, mask):
        g = sentence_gate_from_scores(student_score, teacher_score, mask)
        real = mask.any(dim=-1)
        return g.unsqueeze(-1) & mask, (g & real).sum(), real.sum()
