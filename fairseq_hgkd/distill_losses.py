"""Per-token losses of hard-gate KD and word-level KD, as pure tensor functions.

Shapes: log-probabilities (B, T, V) in fp32, `target` (B, T) token ids, `mask` (B, T) True on real
target positions. Every per-token result is (B, T) with padding positions set to 0, so a plain
`.sum()` is the batch total. The teacher side never receives gradient.
"""
import math
from typing import Sequence

import torch
import torch.nn.functional as F


def tempered_log_probs(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log softmax(logits / T) in fp32, whatever the logits' dtype.

    Log-probabilities are valid logits too, so this also re-tempers a distribution: q_T ∝ q^(1/T).
    """
    logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    return F.log_softmax(logits, dim=-1)


def ensemble_log_probs(member_lprobs: Sequence[torch.Tensor]) -> torch.Tensor:
    """log of the mean of the members' probabilities (an ensemble teacher), computed stably."""
    if len(member_lprobs) == 1:
        return member_lprobs[0]
    stacked = torch.stack(list(member_lprobs), dim=0)
    return torch.logsumexp(stacked, dim=0) - math.log(len(member_lprobs))


def gold_log_probs(lprobs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log p(y_t), shape (B, T)."""
    return lprobs.gather(-1, target.unsqueeze(-1)).squeeze(-1)


def smoothed_nll(
    lprobs: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, epsilon: float = 0.0
):
    """Label-smoothed NLL per token with fairseq's formula, and the plain NLL -log p(y_t).

    loss_t = (1 - eps - eps/(V-1)) * nll_t + eps/(V-1) * (-sum_v log p_v); eps = 0 gives nll_t.
    Returns (loss, nll), each (B, T) with padding zeroed.
    """
    nll = -gold_log_probs(lprobs, target)
    if epsilon > 0.0:
        eps_i = epsilon / (lprobs.size(-1) - 1)
        smooth = -lprobs.sum(dim=-1)
        loss = (1.0 - epsilon - eps_i) * nll + eps_i * smooth
    else:
        loss = nll
    zero = torch.zeros((), dtype=loss.dtype, device=loss.device)
    return torch.where(mask, loss, zero), torch.where(mask, nll, zero)


def kl_divergence(
    teacher_lprobs: torch.Tensor, student_lprobs: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """KL(q || p) = sum_v q_v (log q_v - log p_v) per token; vocabulary entries with q_v = 0 add 0."""
    teacher_lprobs = teacher_lprobs.detach()
    q = teacher_lprobs.exp()
    terms = q * (teacher_lprobs - student_lprobs)
    # 0 * (-inf) would be NaN where the teacher (or student) underflowed to exactly 0
    terms = torch.where(q > 0, terms, torch.zeros((), dtype=terms.dtype, device=terms.device))
    kl = terms.sum(dim=-1)
    return torch.where(mask, kl, torch.zeros((), dtype=kl.dtype, device=kl.device))


def mixed_loss(
    student_lprobs: torch.Tensor,
    teacher_lprobs: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    coef_kd: torch.Tensor,
    coef_gold: torch.Tensor,
    epsilon: float = 0.0,
    temperature: float = 1.0,
):
    """c_kd * KL(q_T || p_T) + c_gold * NLL_eps per token, with (B, T) weights c_kd and c_gold.

    Both distributions are re-tempered at T when T != 1. A zero weight drops its term entirely
    (no 0 * inf). Returns (loss, nll, kl), each (B, T) with padding zeroed.
    """
    gold_loss, nll = smoothed_nll(student_lprobs, target, mask, epsilon)
    if temperature != 1.0:
        student_lprobs = tempered_log_probs(student_lprobs, temperature)
        teacher_lprobs = tempered_log_probs(teacher_lprobs, temperature)
    kl = kl_divergence(teacher_lprobs, student_lprobs, mask)
    zero = torch.zeros((), dtype=kl.dtype, device=kl.device)
    coef_kd, coef_gold = torch.as_tensor(coef_kd).float(), torch.as_tensor(coef_gold).float()
    loss = torch.where(coef_kd > 0, coef_kd * kl, zero) + torch.where(coef_gold > 0, coef_gold * gold_loss, zero)
    return torch.where(mask, loss, zero), nll, kl


def hard_gate_loss(
    student_lprobs: torch.Tensor,
    teacher_lprobs: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    token_gates: torch.Tensor,
    epsilon: float = 0.0,
):
    """Hard-gate KD per token: g_t * KL(q || p) + (1 - g_t) * NLL_t (label-smoothed by epsilon).

    `token_gates` is (B, T) boolean; for the sentence gate broadcast it over the sentence first.
    Returns (loss, nll, kl), each (B, T) with padding zeroed; nll is the unsmoothed gold NLL.
    """
    gates = token_gates.float()
    return mixed_loss(student_lprobs, teacher_lprobs, target, mask, gates, 1.0 - gates, epsilon)


def word_kd_loss(
    student_lprobs: torch.Tensor,
    teacher_lprobs: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    alpha: float,
    temperature: float = 1.0,
    epsilon: float = 0.0,
):
    """Word-level KD (Hinton et al.; Kim & Rush): (1 - a) * NLL_t + a * T^2 * KL(q_T || p_T).

    Both distributions are re-tempered at T; T^2 keeps the KD gradient's scale independent of T.
    Returns (loss, nll, kl) with kl = KL(q_T || p_T), each (B, T) with padding zeroed.
    """
    shape = target.shape
    coef_kd = torch.full(shape, alpha * temperature**2, device=target.device)
    coef_gold = torch.full(shape, 1.0 - alpha, device=target.device)
    return mixed_loss(student_lprobs, teacher_lprobs, target, mask, coef_kd, coef_gold, epsilon,
                      temperature)
