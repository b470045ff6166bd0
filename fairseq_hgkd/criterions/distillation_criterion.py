"""Shared skeleton of the distillation criteria: one student and one teacher pass, then pure math.

Data flow: the student's logits come from its forward pass, the teacher's distribution from the
task; a subclass decides per token how much to learn from each source (`mixing`, with the pure
gate functions of gates.py); the loss is computed by fused_distillation.py (or, for adaptive-softmax
students and re-tempered word-KD, by the reference functions of distill_losses.py); the results
leave as summable logging outputs that `reduce_metrics` turns into fairseq metrics (loss and
nll_loss in base 2 like fairseq's own criteria).
"""
import math
from dataclasses import dataclass, field

import torch
from fairseq import utils
from fairseq.criterions import FairseqCriterion
from fairseq.dataclass import FairseqDataclass
from fairseq.logging import metrics
from omegaconf import II

from fairseq_hgkd import calibration_logging
from fairseq_hgkd.calibration import bin_statistics, confidence_and_prediction
from fairseq_hgkd.distill_losses import gold_log_probs, mixed_loss
from fairseq_hgkd.errors import HgkdError
from fairseq_hgkd.fused_distillation import mixed_distillation_loss, student_stats


@dataclass
class DistillationCriterionConfig(FairseqDataclass):
    label_smoothing: float = field(
        default=0.0,
        metadata={"help": "epsilon for label smoothing of the gold-data term (fairseq's formula)"},
    )
    sentence_avg: bool = II("optimization.sentence_avg")


class DistillationCriterion(FairseqCriterion):
    """Base class; subclasses implement `mixing` (how much each token learns from which source)."""

    def __init__(self, task, sentence_avg: bool, label_smoothing: float = 0.0):
        super().__init__(task)
        name = type(self).__name__
        if not hasattr(task, "teacher_distribution"):
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

    # word_kd re-tempers both distributions; the fused path covers temperature 1
    kd_temperature = 1.0

    def mixing(self, scores, mask):
        """Per-token weights (c_kd, c_gold), each (B, T), and extra logging outputs.

        `scores[name] = (log p, log q)` at the gold tokens (name "gold") and at the student's
        predictions ("prediction"), each (B, T).
        """
        raise NotImplementedError

    def _fusable(self, model) -> bool:
        while hasattr(model, "module"):  # DDP wrappers
            model = model.module
        return self.kd_temperature == 1.0 and getattr(model.decoder, "adaptive_softmax", None) is None

    def forward(self, model, sample, reduce=True):
        net_output = model(**sample["net_input"])
        target = model.get_targets(sample, net_output)
        mask = target.ne(self.padding_idx)
        fused = self._fusable(model)
        if fused:
            logits = net_output[0]
            stats = student_stats(logits)
            confidence, prediction = stats.confidence, stats.prediction
            student_gold = stats.log_prob_at(target)
        else:
            # log-softmax in fp32 (fairseq's own get_normalized_probs already does; .float() is explicit)
            lprobs = model.get_normalized_probs(net_output, log_probs=True).float()
            confidence, prediction = confidence_and_prediction(lprobs)
            student_gold = gold_log_probs(lprobs, target).detach()
        teacher = self.task.teacher_distribution(
            sample, model, {"gold": target, "prediction": prediction})
        scores = {"gold": (student_gold, teacher.log_probs_at["gold"]),
                  "prediction": (confidence.log(), teacher.log_probs_at["prediction"])}
        coef_kd, coef_gold, extra = self.mixing(scores, mask)
        if fused:
            loss, nll, kl = mixed_distillation_loss(logits, teacher, target, mask, coef_kd,
                                                    coef_gold, self.eps, stats)
        else:
            loss, nll, kl = mixed_loss(lprobs, teacher.log_probs(), target, mask, coef_kd,
                                       coef_gold, self.eps, self.kd_temperature)
        loss = loss.sum()
        with torch.no_grad():
            zero = torch.zeros((), device=target.device)
            teacher_nll = -torch.where(mask, teacher.log_probs_at["gold"], zero).sum()
            agree = (prediction.eq(teacher.argmax) & mask).sum()
            bins = bin_statistics(confidence, prediction.eq(target), mask)

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
            **calibration_logging.logging_output(bins),
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
