"""Shared skeleton of the distillation criteria: one student and one teacher pass, then pure math.

Data flow: the task gives the teacher's log-probabilities, the student's come from its forward
pass; a subclass turns both into per-token losses with the pure functions of gates.py and
distill_losses.py; the results leave as summable logging outputs that `reduce_metrics` turns into
fairseq metrics (loss and nll_loss in base 2 like fairseq's own criteria).
"""
import math
from dataclasses import dataclass, field
from typing import Dict, Tuple

import torch
from fairseq import utils
from fairseq.criterions import FairseqCriterion
from fairseq.dataclass import FairseqDataclass
from fairseq.logging import metrics
from omegaconf import II

from fairseq_hgkd import calibration_logging
from fairseq_hgkd.calibration import bin_statistics, confidence_and_prediction
from fairseq_hgkd.distill_losses import gold_log_probs
from fairseq_hgkd.errors import HgkdError


@dataclass
class DistillationCriterionConfig(FairseqDataclass):
    label_smoothing: float = field(
        default=0.0,
        metadata={"help": "epsilon for label smoothing of the gold-data term (fairseq's formula)"},
    )
    sentence_avg: bool = II("optimization.sentence_avg")


class DistillationCriterion(FairseqCriterion):
    """Base class; subclasses implement `token_losses`."""

    def __init__(self, task, sentence_avg: bool, label_smoothing: float = 0.0):
        super().__init__(task)
        name = type(self).__name__
        if not hasattr(task, "teacher_log_probs"):
            raise HgkdError(
                f"{name} needs --task translation_with_teacher (got {type(task).__name__}); "
                "add --task translation_with_teacher --teacher-path PATH"
            )
        if not getattr(task.cfg, "teacher_path", None):
            raise HgkdError(f"{name} needs a teacher: add --teacher-path PATH to the command")
        if not 0.0 <= label_smoothing < 1.0:
            raise HgkdError(f"--label-smoothing must be in [0, 1), got {label_smoothing}")
        self.sentence_avg = sentence_avg
        self.eps = label_smoothing

    def token_losses(
        self, lprobs, teacher_lprobs, target, mask, prediction
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, Dict[str, torch.Tensor]]:
        """(loss, nll, kl, extra logging outputs), the tensors (B, T) with padding zeroed."""
        raise NotImplementedError

    def forward(self, model, sample, reduce=True):
        net_output = model(**sample["net_input"])
        # fairseq's log-softmax already computes in fp32; .float() makes that explicit
        lprobs = model.get_normalized_probs(net_output, log_probs=True).float()
        target = model.get_targets(sample, net_output)
        mask = target.ne(self.padding_idx)
        teacher_lprobs = self.task.teacher_log_probs(sample, model)
        confidence, prediction = confidence_and_prediction(lprobs)

        loss, nll, kl, extra = self.token_losses(lprobs, teacher_lprobs, target, mask, prediction)
        loss = loss.sum()

        with torch.no_grad():
            teacher_nll = -torch.where(mask, gold_log_probs(teacher_lprobs, target), 0.0).sum()
            agree = (prediction.eq(teacher_lprobs.argmax(dim=-1)) & mask).sum()
            stats = bin_statistics(confidence, prediction.eq(target), mask)

        ntokens = sample["ntokens"]
        nsentences = sample["target"].size(0)
        logging_output = {
            "loss": loss.data,
            "nll_loss": nll.sum().data,
            "kd_loss": kl.sum().data,
            "teacher_nll": teacher_nll,
            "agree": agree,
            "ntokens": ntokens,
            "nsentences": nsentences,
            "sample_size": nsentences if self.sentence_avg else ntokens,
            **extra,
            **calibration_logging.logging_output(stats),
        }
        return loss, logging_output["sample_size"], logging_output

    @classmethod
    def reduce_metrics(cls, logging_outputs) -> None:
        def total(key):
            return utils.item(sum(log.get(key, 0) for log in logging_outputs))

        ntokens, sample_size = total("ntokens"), total("sample_size")
        ln2 = math.log(2)
        metrics.log_scalar("loss", total("loss") / sample_size / ln2, sample_size, round=3)
        metrics.log_scalar("nll_loss", total("nll_loss") / ntokens / ln2, ntokens, round=3)
        metrics.log_derived("ppl", lambda meters: utils.get_perplexity(meters["nll_loss"].avg))
        metrics.log_scalar("kd_loss", total("kd_loss") / ntokens / ln2, ntokens, round=3)
        metrics.log_scalar("teacher_nll", total("teacher_nll") / ntokens / ln2, ntokens, round=3)
        metrics.log_scalar("agree", total("agree") / ntokens, ntokens, round=3)
        units = total("kd_units")
        if units > 0:
            metrics.log_scalar("kd_frac", total("kd_routed") / units, units, round=3)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
