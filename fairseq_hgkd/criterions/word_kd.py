"""Word-level KD baseline (`word_kd`; Hinton et al. 2015, Kim & Rush 2016).

loss_t = (1 - a) * NLL_t + a * T^2 * KL(q_T || p_T): every token learns from both sources.
"""
from dataclasses import dataclass, field

import torch
from fairseq.criterions import register_criterion

from fairseq_hgkd.criterions.distillation_criterion import (
    DistillationCriterion,
    DistillationCriterionConfig,
)
from fairseq_hgkd.errors import HgkdError
from fairseq_hgkd.teacher import validate_temperature


@dataclass
class WordKDConfig(DistillationCriterionConfig):
    kd_alpha: float = field(
        default=0.5, metadata={"help": "weight a of the teacher term, in [0, 1]"}
    )
    kd_temperature: float = field(
        default=1.0, metadata={"help": "temperature T applied to both student and teacher (> 0)"}
    )


@register_criterion("word_kd", dataclass=WordKDConfig)
class WordKD(DistillationCriterion):
    def __init__(self, task, sentence_avg, label_smoothing=0.0, kd_alpha=0.5, kd_temperature=1.0):
        super().__init__(task, sentence_avg, label_smoothing)
        if not 0.0 <= kd_alpha <= 1.0:
            raise HgkdError(f"--kd-alpha must be in [0, 1], got {kd_alpha}")
        self.alpha = float(kd_alpha)
        self.kd_temperature = validate_temperature(kd_temperature, "--kd-temperature")

    def mixing(self, scores, mask):
        coef_kd = torch.full(mask.shape, self.alpha * self.kd_temperature**2, device=mask.device)
        coef_gold = torch.full(mask.shape, 1.0 - self.alpha, device=mask.device)
        return coef_kd, coef_gold, {}
