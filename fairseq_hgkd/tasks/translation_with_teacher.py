"""Task `translation_with_teacher`: fairseq's `translation` plus a frozen teacher and calibration.

Without --teacher-path it behaves exactly like `translation` (used to train the teacher itself and
the cross-entropy / label-smoothing baselines) and still reports the student's token-level ECE and
MCE on validation. With it, the distillation criteria ask the task for the teacher's
log-probabilities of each batch.
"""
import logging
from dataclasses import dataclass, field
from typing import Optional

import torch
from fairseq import utils
from fairseq.dataclass import ChoiceEnum
from fairseq.tasks import register_task
from fairseq.tasks.translation import TranslationConfig, TranslationTask

from fairseq_hgkd import calibration_logging
from fairseq_hgkd.calibration import bin_statistics, confidence_and_prediction
from fairseq_hgkd.data_bin_check import check_split
from fairseq_hgkd.errors import HgkdError
from fairseq_hgkd.teacher import (
    DATA_SIGNATURE_KEY,
    TEACHER_DTYPES,
    NonFiniteTeacherOutput,
    TeacherError,
    data_signature,
    load_teacher,
    validate_temperature,
)

logger = logging.getLogger(__name__)


@dataclass
class TranslationWithTeacherConfig(TranslationConfig):
    teacher_path: Optional[str] = field(
        default=None,
        metadata={
            "help": "teacher checkpoint, or several separated by ':' whose probabilities are "
            "averaged (an ensemble teacher); without it the task behaves like translation"
        },
    )
    teacher_temperature: float = field(
        default=1.0,
        metadata={"help": "divide the teacher's logits by this temperature (> 0)"},
    )
    teacher_dtype: ChoiceEnum(list(TEACHER_DTYPES)) = field(
        default="auto",
        metadata={"help": "dtype of the teacher's forward pass; auto follows the student's "
                          "(--fp16/--bf16); log-probabilities are fp32 either way"},
    )


@register_task("translation_with_teacher", dataclass=TranslationWithTeacherConfig)
class TranslationWithTeacherTask(TranslationTask):
    cfg: TranslationWithTeacherConfig

    def __init__(self, cfg: TranslationWithTeacherConfig, src_dict, tgt_dict):
        super().__init__(cfg, src_dict, tgt_dict)
        validate_temperature(cfg.teacher_temperature)
        self.teacher = None

    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        paths = utils.split_paths(self.cfg.data)
        if split != self.cfg.train_subset:
            paths = paths[:1]
        check_split(paths[(epoch - 1) % len(paths)], split, self.cfg.source_lang, self.cfg.target_lang)
        super().load_dataset(split, epoch=epoch, combine=combine, **kwargs)

    def build_model(self, cfg, from_checkpoint=False):
        model = super().build_model(cfg, from_checkpoint)
        # Only a training run loads the teacher: generation, hub loading and any rebuild from a
        # checkpoint (from_checkpoint=True) must work after the teacher file is gone.
        if self.cfg.teacher_path and not from_checkpoint and self.teacher is None:
            self.teacher = load_teacher(
                self.cfg.teacher_path, self, self.cfg.teacher_temperature, str(self.cfg.teacher_dtype)
            )
        return model

    def teacher_distribution(self, sample, student, tokens=None):
        """The teacher's q for `sample` on the student's device (a TeacherDistribution), with
        exact log q at the named (B, T) `tokens`."""
        if self.teacher is None:
            raise HgkdError(
                "this criterion needs a teacher but the task has none; add --teacher-path PATH"
            )
        try:
            return self.teacher.distribution(sample["net_input"], student, tokens)
        except NonFiniteTeacherOutput:
            ids = sample["id"].tolist()
            shown = ", ".join(map(str, ids[:8])) + (", ..." if len(ids) > 8 else "")
            raise TeacherError(
                f"the teacher ({', '.join(self.teacher.paths)}) produced NaN/inf log-probabilities "
                f"for the batch with sentence ids {shown} ({len(ids)} sentences); check the "
                "teacher checkpoint, or use --teacher-dtype fp32 if it overflows in half precision"
            ) from None

    def valid_step(self, sample, model, criterion):
        loss, sample_size, logging_output = super().valid_step(sample, model, criterion)
        if not calibration_logging.has_calibration(logging_output):
            # criteria of fairseq itself (cross_entropy, label_smoothed_cross_entropy) do not
            # report calibration: measure it with one more (evaluation-mode) forward pass
            with torch.no_grad():
                net_output = model(**sample["net_input"])
                lprobs = model.get_normalized_probs(net_output, log_probs=True)
                target = model.get_targets(sample, net_output)
                confidence, prediction = confidence_and_prediction(lprobs)
                stats = bin_statistics(
                    confidence, prediction.eq(target), target.ne(self.tgt_dict.pad())
                )
            logging_output.update(calibration_logging.logging_output(stats))
        return loss, sample_size, logging_output

    def reduce_metrics(self, logging_outputs, criterion):
        super().reduce_metrics(logging_outputs, criterion)
        calibration_logging.reduce(logging_outputs)

    def state_dict(self):
        state = dict(super().state_dict())
        state[DATA_SIGNATURE_KEY] = data_signature(
            self.cfg.source_lang, self.cfg.target_lang, self.src_dict, self.tgt_dict
        )
        return state
