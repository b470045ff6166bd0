"""Hard gates of hard-gate KD: where to learn from the teacher and where from the gold data.

The teacher's probability estimates the expected accuracy of a prediction. Where the student
puts more probability than that on the compared token it is over-confident and is routed to the
teacher (gate 1); everywhere else it learns from the gold data (gate 0). Ties go to the gold data.

All inputs are log-probabilities of shape (batch, time, vocab); `mask` is True on real (non-pad)
target positions. Gates are boolean and carry no gradient.
"""
from typing import Literal

import torch

GateOn = Literal["gold", "prediction"]
GATE_ON_CHOICES = ("gold", "prediction")


def compared_tokens(
    target: torch.Tensor, student_prediction: torch.Tensor, gate_on: GateOn
) -> torch.Tensor:
    """The token c_t whose probabilities the gate compares: the gold token or the student's argmax."""
    if gate_on == "gold":
        return target
    if gate_on == "prediction":
        return student_prediction
    raise ValueError(f"gate_on must be one of {GATE_ON_CHOICES}, got {gate_on!r}")


def _at(lprobs: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    return lprobs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1).float()


@torch.no_grad()
def token_gate_from_scores(student_score: torch.Tensor, teacher_score: torch.Tensor,
                           mask: torch.Tensor) -> torch.Tensor:
    """g_t = [log p(c_t) > log q(c_t)] from the two (B, T) log-probabilities at c_t."""
    return (student_score.float() > teacher_score.float()) & mask


@torch.no_grad()
def sentence_gate_from_scores(student_score: torch.Tensor, teacher_score: torch.Tensor,
                              mask: torch.Tensor) -> torch.Tensor:
    """g = [sum_t log p(c_t) > sum_t log q(c_t)] over each sentence's real positions. Shape (B,)."""
    zero = torch.zeros((), device=mask.device)
    student_sum = torch.where(mask, student_score.float(), zero).sum(-1)
    teacher_sum = torch.where(mask, teacher_score.float(), zero).sum(-1)
    return student_sum > teacher_sum


def token_gate(student_lprobs: torch.Tensor, teacher_lprobs: torch.Tensor,
               compared: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """HKD-T: g_t = [log p(c_t) > log q(c_t)] on real positions, False on padding. Shape (B, T)."""
    return token_gate_from_scores(_at(student_lprobs, compared), _at(teacher_lprobs, compared), mask)


def sentence_gate(student_lprobs: torch.Tensor, teacher_lprobs: torch.Tensor,
                  compared: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """HKD-S: g = [sum_t log p(c_t) > sum_t log q(c_t)] over a sentence's real positions. Shape (B,)."""
    return sentence_gate_from_scores(_at(student_lprobs, compared), _at(teacher_lprobs, compared), mask)
