"""The frozen teacher: built from its own checkpoint(s), checked against the data, queried per batch.

The teacher is deliberately not an nn.Module attribute of the student, the criterion or anything
fairseq saves or optimizes: it never enters a student checkpoint, the optimizer or DDP. It is
rebuilt from each checkpoint's own configuration, so any fairseq architecture and size works.
"""
import logging
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from fairseq_hgkd import safe_checkpoint
from fairseq_hgkd.distill_losses import ensemble_log_probs
from fairseq_hgkd.fused_distillation import (
    TeacherDistribution,
    teacher_distribution_,
    teacher_distribution_from_log_probs,
)
from fairseq_hgkd.errors import HgkdError

logger = logging.getLogger(__name__)

# Stored in the task state of checkpoints trained with translation_with_teacher, so that a teacher
# trained by this plugin can be checked against new data without its data directory.
DATA_SIGNATURE_KEY = "hgkd_data_signature"

TEACHER_DTYPES = {"auto": None, "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class TeacherError(HgkdError):
    """The teacher cannot be used with this data or these options."""


class NonFiniteTeacherOutput(Exception):
    """The teacher produced NaN or inf for a batch (the task reports which batch)."""


def validate_temperature(temperature: float, option: str = "--teacher-temperature") -> float:
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature <= 0:
        raise TeacherError(f"{option} must be a finite number > 0, got {temperature}")
    return float(temperature)


def split_teacher_paths(paths: str) -> List[str]:
    return [p for p in paths.split(":") if p.strip()]


def data_signature(source_lang: str, target_lang: str, src_dict, tgt_dict) -> dict:
    return {
        "source_lang": source_lang,
        "target_lang": target_lang,
        "source_dictionary": list(src_dict.symbols),
        "target_dictionary": list(tgt_dict.symbols),
    }


def first_difference(teacher: Sequence[str], data: Sequence[str]) -> Optional[Tuple[int, str, str]]:
    """(index, teacher symbol, data symbol) of the first mismatch, or None if equal."""
    for i, (t, d) in enumerate(zip(teacher, data)):
        if t != d:
            return i, t, d
    if len(teacher) != len(data):
        i = min(len(teacher), len(data))
        end = "<end of dictionary>"
        return i, teacher[i] if i < len(teacher) else end, data[i] if i < len(data) else end
    return None


def _checkpoint_cfg(state: dict, path: str):
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    if state.get("args") is not None:
        return convert_namespace_to_omegaconf(state["args"])
    if state.get("cfg") is not None:
        return state["cfg"]
    raise TeacherError(
        f"teacher {path} is not a fairseq model checkpoint (it has no 'cfg' or 'args'); "
        "pass a checkpoint_*.pt written by fairseq-train"
    )


def _teacher_signature(state: dict, cfg, path: str, src: str, tgt: str) -> dict:
    """The teacher's languages and dictionaries: from its task state, else from dict files."""
    saved = (state.get("task_state") or {}).get(DATA_SIGNATURE_KEY)
    if saved:
        return saved
    from fairseq.data import Dictionary

    task_cfg = cfg.task
    t_src = getattr(task_cfg, "source_lang", None) or src
    t_tgt = getattr(task_cfg, "target_lang", None) or tgt
    data = getattr(task_cfg, "data", None)
    candidates = ([data.split(":")[0]] if data else []) + [os.path.dirname(os.path.abspath(path))]
    for directory in candidates:
        files = [os.path.join(directory, f"dict.{lang}.txt") for lang in (t_src, t_tgt)]
        if all(os.path.isfile(f) for f in files):
            src_dict, tgt_dict = (Dictionary.load(f) for f in files)
            return data_signature(t_src, t_tgt, src_dict, tgt_dict)
    raise TeacherError(
        f"cannot check teacher {path} against the data: it was not trained with "
        f"translation_with_teacher and no dict.{t_src}.txt/dict.{t_tgt}.txt were found in "
        f"{' or '.join(candidates)}; copy the teacher's dictionary files next to the checkpoint"
    )


def check_compatible(signature: dict, path: str, source_lang: str, target_lang: str,
                     src_dict, tgt_dict) -> None:
    """Same language direction and the same dictionaries, symbol by symbol, or a one-line error."""
    t_src, t_tgt = signature.get("source_lang"), signature.get("target_lang")
    if t_src and t_tgt and (t_src, t_tgt) != (source_lang, target_lang):
        hint = "the opposite direction" if (t_src, t_tgt) == (target_lang, source_lang) else "another pair"
        raise TeacherError(
            f"teacher {path} translates {t_src}->{t_tgt} ({hint}) but the data is "
            f"{source_lang}->{target_lang}; use a teacher trained for {source_lang}->{target_lang}"
        )
    for side, theirs, ours in (
        ("source", signature["source_dictionary"], src_dict.symbols),
        ("target", signature["target_dictionary"], tgt_dict.symbols),
    ):
        diff = first_difference(theirs, ours)
        if diff is not None:
            index, t_sym, d_sym = diff
            raise TeacherError(
                f"teacher {path}: its {side} dictionary differs from the data's at index {index} "
                f"(teacher {t_sym!r}, data {d_sym!r}; sizes {len(theirs)} vs {len(ours)}); "
                "binarize the data with the teacher's dictionaries (fairseq-preprocess "
                "--srcdict/--tgtdict) or train the teacher on this data-bin"
            )


class Teacher:
    """A frozen teacher (one model or an ensemble) giving fp32 log-probabilities at temperature T."""

    def __init__(self, models: List[torch.nn.Module], paths: List[str], temperature: float = 1.0,
                 dtype: Optional[torch.dtype] = None):
        self.models = list(models)  # a plain list: never a registered submodule of anything
        self.paths = list(paths)
        self.temperature = validate_temperature(temperature)
        self.dtype = dtype
        for model in self.models:
            model.requires_grad_(False)
            model.eval()
            if self.temperature != 1.0 and getattr(model.decoder, "adaptive_softmax", None) is not None:
                raise TeacherError(
                    "--teacher-temperature other than 1 needs a teacher without adaptive softmax"
                )

    def _follow(self, student: torch.nn.Module) -> None:
        reference = next(student.parameters())
        dtype = self.dtype or reference.dtype
        for model in self.models:
            current = next(model.parameters())
            if current.device != reference.device or current.dtype != dtype:
                model.to(device=reference.device, dtype=dtype)

    @torch.no_grad()
    def distribution(self, net_input: dict, student: torch.nn.Module,
                     tokens: Optional[Dict[str, torch.Tensor]] = None) -> TeacherDistribution:
        """q for the batch on the student's device, without gradient, with exact log q at `tokens`.

        Raises NonFiniteTeacherOutput when a member produces NaN or inf (checked on the
        per-position normalizers, so the check costs no extra pass over the vocabulary).
        """
        self._follow(student)
        outputs = []
        for model in self.models:
            model.eval()  # fairseq calls .train() on the student each step; keep the teacher frozen
            outputs.append((model, model(**net_input)))
        if any(getattr(m.decoder, "adaptive_softmax", None) is not None for m, _ in outputs):
            members = [m.get_normalized_probs(o, log_probs=True).float() for m, o in outputs]
            dist = teacher_distribution_from_log_probs(ensemble_log_probs(members), tokens)
        else:  # the members' logits are ours alone: normalized in place, in blocks
            dist = teacher_distribution_([o[0] for _, o in outputs], self.temperature, tokens)
        if not bool(dist.finite):
            raise NonFiniteTeacherOutput()
        return dist

    def log_probs(self, net_input: dict, student: torch.nn.Module) -> torch.Tensor:
        """log q as a (B, T, V) fp32 tensor (reference use and tests)."""
        return self.distribution(net_input, student).log_probs()

    def num_parameters(self) -> int:
        return sum(p.numel() for m in self.models for p in m.parameters())


def load_teacher(paths: str, task, temperature: float = 1.0, dtype: str = "auto") -> Teacher:
    """Build and check every member of --teacher-path against `task`'s languages and dictionaries."""
    from fairseq import models as fairseq_models

    validate_temperature(temperature)
    if dtype not in TEACHER_DTYPES:
        raise TeacherError(f"--teacher-dtype must be one of {sorted(TEACHER_DTYPES)}, got {dtype!r}")
    members, member_paths = [], split_teacher_paths(paths)
    if not member_paths:
        raise TeacherError("--teacher-path is empty; give a checkpoint path (PATH[:PATH...])")
    src, tgt = task.cfg.source_lang, task.cfg.target_lang
    for path in member_paths:
        state = safe_checkpoint.load_checkpoint(path)
        if "model" not in state:
            raise TeacherError(f"teacher {path} has no model weights; pass a fairseq model checkpoint")
        cfg = _checkpoint_cfg(state, path)
        signature = _teacher_signature(state, cfg, path, src, tgt)
        check_compatible(signature, path, src, tgt, task.source_dictionary, task.target_dictionary)
        model = fairseq_models.build_model(cfg.model, task, from_checkpoint=True)
        model.load_state_dict(state["model"], strict=True, model_cfg=cfg.model)
        members.append(model)
        logger.info(
            "teacher %s: %s, %d parameters, frozen", path, type(model).__name__,
            sum(p.numel() for p in model.parameters()),
        )
    return Teacher(members, member_paths, temperature, TEACHER_DTYPES[dtype])
