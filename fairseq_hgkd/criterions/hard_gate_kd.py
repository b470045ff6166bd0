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
from fairseq_hgkd.distill_losses import hard_gate_loss
from fairseq_hgkd.gates import GATE_ON_CHOICES, compared_tokens, sentence_gate, token_gate


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

    def gates(self, lprobs, teacher_lprobs, compared, mask):
        """(token gates (B, T), number routed to the teacher, number of gated units)."""
        raise NotImplementedError

    def token_losses(self, lprobs, teacher_lprobs, target, mask, prediction):
        compared = compared_tokens(target, prediction, self.gate_on)
        token_gates, routed, units = self.gates(lprobs, teacher_lprobs, compared, mask)
        loss, nll, kl = hard_gate_loss(lprobs, teacher_lprobs, target, mask, token_gates, self.eps)
        return loss, nll, kl, {"kd_routed": routed, "kd_units": units}


@register_criterion("hgkd_token", dataclass=HardGateKDConfig)
class TokenHardGateKD(_HardGateKD):
    """HKD-T: gate g_t = [p(c_t) > q(c_t)] for every target token."""

    def gates(self, lprobs, teacher_lprobs, compared, mask):
        g = token_gate(lprobs, teacher_lprobs, compared, mask)
        return g, g.sum(), mask.sum()


@register_criterion("hgkd_sentence", dataclass=HardGateKDConfig)
class SentenceHardGateKD(_HardGateKD):
    """HKD-S: one gate per sentence, g = [sum_t log p(c_t) > sum_t log q(c_t)]."""

    def gates(self, lprobs, teacher_lprobs, compared, mask):
        g = sentence_gate(lprobs, teacher_lprobs, compared, mask)
        real = mask.any(dim=-1)
        return g.unsqueeze(-1) & mask, (g & real).sum(), real.sum()
