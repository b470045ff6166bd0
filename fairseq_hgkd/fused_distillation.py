"""The distillation loss from the student's and teacher's logits, in chunks of target positions.

Mathematically identical to distill_losses.py (the reference; tests compare the two in value and
gradient). It exists for speed and memory: the reference materializes half a dozen
(batch x time x vocabulary) tensors per step, and on a CPU every such pass costs as much as a
large matrix product. Here every vocabulary-sized computation runs over a block of positions small
enough to stay in cache (on GPU: large blocks, to bound memory only), and the teacher's logits are
turned into its probabilities in place.

Per target position, with z the student's logits, lse = logsumexp(z), p = softmax(z), q the
teacher's distribution and c_kd, c_gold per-token weights (hard gates, or a and 1 - a):

    KL(q || p)  = sum_v q_v log q_v - sum_v q_v z_v + lse
    NLL_eps     = (1 - eps - eps_i) (lse - z_y) + eps_i (V lse - sum_v z_v),  eps_i = eps / (V - 1)
    loss        = c_kd KL + c_gold NLL_eps
    d loss / dz = (c_kd + c_gold) p - c_kd q - c_gold ((1 - eps - eps_i) onehot(y) + eps_i)

The backward pass recomputes p from the saved logits instead of keeping log p.
"""
import math
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

import torch

# exp(-1e4) is 0 in fp32 as exp(-inf) is, but 0 * -1e4 = 0 where 0 * -inf = NaN
_LOG_FLOOR = -1e4


def chunk_rows(vocab: int, device: torch.device) -> int:
    """Positions per block: about 2 MiB of fp32 per tensor on CPU (cache), 256 MiB on GPU."""
    budget = (1 << 19) if device.type == "cpu" else (1 << 26)
    return max(8, budget // max(1, vocab))


def _blocks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


@dataclass
class TeacherDistribution:
    """The teacher's q for a batch: probabilities (B, T, V) fp32 and per-position statistics."""

    probs: torch.Tensor
    neg_entropy: torch.Tensor  # sum_v q_v log q_v, (B, T)
    argmax: torch.Tensor  # (B, T)
    finite: torch.Tensor  # scalar bool: no NaN / inf in the teacher's logits
    # exact log q at requested tokens (e.g. "gold", "prediction"), (B, T) each: computed from the
    # logits, so they stay finite where q itself underflows to 0
    log_probs_at: Dict[str, torch.Tensor] = field(default_factory=dict)

    def log_probs(self) -> torch.Tensor:
        """log q as a new (B, T, V) tensor (for the reference path)."""
        return self.probs.log()


@torch.no_grad()
def teacher_distribution_(member_logits: Sequence[torch.Tensor], temperature: float = 1.0,
                          tokens: Dict[str, torch.Tensor] = None, block: int = None) -> TeacherDistribution:
    """softmax(logits / T), averaged over ensemble members, in blocks of positions; written in
    place over the first member's logits when they are fp32 (the logits are consumed)."""
    tokens = tokens or {}
    first = member_logits[0]
    shape, vocab = first.shape, first.size(-1)
    rows = first.numel() // vocab
    block = block or chunk_rows(vocab, first.device)
    device = first.device
    out = first.reshape(rows, vocab) if first.dtype == torch.float32 else \
        torch.empty(rows, vocab, dtype=torch.float32, device=device)
    neg_entropy = torch.empty(rows, dtype=torch.float32, device=device)
    argmax = torch.empty(rows, dtype=torch.long, device=device)
    finite = torch.ones((), dtype=torch.bool, device=device)
    at = {name: torch.empty(rows, dtype=torch.float32, device=device) for name in tokens}
    flat_tokens = {name: t.reshape(rows, 1) for name, t in tokens.items()}
    members = [m.reshape(rows, vocab) for m in member_logits]
    n = len(members)
    for r in _blocks(rows, block):
        acc, member_at = None, {name: [] for name in tokens}
        for x in members:
            x = x[r].float()
            if temperature != 1.0:
                x = x / temperature
            top, arg = x.max(dim=-1)
            shifted = (x - top.unsqueeze(-1)).clamp_(min=_LOG_FLOOR)
            e = shifted.exp()
            total = e.sum(dim=-1)
            log_total = total.log()
            finite &= torch.isfinite(top).all() & torch.isfinite(total).all()
            for name, tok in flat_tokens.items():
                member_at[name].append(x.gather(-1, tok[r]).squeeze(-1) - top - log_total)
            q = e.div_(total.unsqueeze(-1))
            if n == 1:
                neg_entropy[r] = (q * shifted).sum(-1) - log_total
                argmax[r] = arg
                out[r] = q
            else:
                acc = q / n if acc is None else acc.add_(q, alpha=1.0 / n)
        for name, values in member_at.items():
            at[name][r] = values[0] if n == 1 else torch.logsumexp(torch.stack(values), 0) - math.log(n)
        if n > 1:
            neg_entropy[r] = torch.xlogy(acc, acc).sum(-1)
            argmax[r] = acc.argmax(dim=-1)
            out[r] = acc
    inner = shape[:-1]
    return TeacherDistribution(out.view(shape), neg_entropy.view(inner), argmax.view(inner), finite,
                               {name: v.view(inner) for name, v in at.items()})


def teacher_distribution_from_log_probs(lprobs: torch.Tensor,
                                        tokens: Dict[str, torch.Tensor] = None) -> TeacherDistribution:
    """The same object from full log-probabilities (adaptive-softmax teachers, tests)."""
    with torch.no_grad():
        probs = lprobs.exp()
        return TeacherDistribution(
            probs, torch.xlogy(probs, probs).sum(-1), lprobs.argmax(-1),
            ~torch.isnan(lprobs).any(),
            {name: lprobs.gather(-1, t.unsqueeze(-1)).squeeze(-1) for name, t in (tokens or {}).items()})


@dataclass
class StudentStats:
    """Per-position statistics of the student's logits, shape (B, T), no gradient."""

    lse: torch.Tensor  # logsumexp over the vocabulary (fp32)
    confidence: torch.Tensor  # max probability
    prediction: torch.Tensor  # argmax token
    logits: torch.Tensor  # the (B, T, V) logits themselves, for gathers

    def log_prob_at(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1).float() - self.lse


@torch.no_grad()
def student_stats(logits: torch.Tensor, block: int = None) -> StudentStats:
    vocab = logits.size(-1)
    z = logits.detach().reshape(-1, vocab)
    block = block or chunk_rows(vocab, logits.device)
    lse = torch.empty(z.size(0), dtype=torch.float32, device=logits.device)
    top = torch.empty_like(lse)
    prediction = torch.empty(z.size(0), dtype=torch.long, device=logits.device)
    for r in _blocks(z.size(0), block):
        zc = z[r].float()
        top[r], prediction[r] = zc.max(dim=-1)
        lse[r] = top[r] + (zc - top[r].unsqueeze(-1)).exp_().sum(-1).log()
    shape = logits.shape[:-1]
    return StudentStats(lse.view(shape), (top - lse).exp().view(shape), prediction.view(shape), logits)


class _MixedDistillationLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, q, lse, target, coef_kd, coef_gold, neg_entropy_q, eps, block):
        vocab = logits.size(-1)
        z = logits.detach().reshape(-1, vocab)
        q2 = q.reshape(-1, vocab)
        dot_qz = torch.empty(z.size(0), dtype=torch.float32, device=z.device)
        sum_z = torch.empty_like(dot_qz) if eps > 0.0 else None
        for r in _blocks(z.size(0), block):
            zc = z[r].float()
            dot_qz[r] = (q2[r] * zc).sum(-1)
            if sum_z is not None:
                sum_z[r] = zc.sum(-1)
        shape = lse.shape
        z_gold = logits.detach().gather(-1, target.unsqueeze(-1)).squeeze(-1).float()
        kl = neg_entropy_q - dot_qz.view(shape) + lse
        nll = lse - z_gold
        eps_i = eps / (vocab - 1)
        gold = nll
        if eps > 0.0:
            gold = (1.0 - eps - eps_i) * nll + eps_i * (vocab * lse - sum_z.view(shape))
        loss = coef_kd * kl + coef_gold * gold
        ctx.save_for_backward(logits, q, lse, target, coef_kd, coef_gold)
        ctx.eps, ctx.block = eps, block
        ctx.mark_non_differentiable(kl, nll)
        return loss, nll, kl

    @staticmethod
    def backward(ctx, grad_loss, _grad_nll, _grad_kl):
        logits, q, lse, target, coef_kd, coef_gold = ctx.saved_tensors
        vocab = logits.size(-1)
        eps = ctx.eps
        eps_i = eps / (vocab - 1)
        z = logits.detach().reshape(-1, vocab)
        q2 = q.reshape(-1, vocab)
        w_kd = (grad_loss * coef_kd).reshape(-1, 1)
        w_gold = (grad_loss * coef_gold).reshape(-1, 1)
        w_all = w_kd + w_gold
        lse2 = lse.reshape(-1, 1)
        tgt = target.reshape(-1, 1)
        grad = torch.empty_like(z)
        for r in _blocks(z.size(0), ctx.block):
            g = z[r].float().sub_(lse2[r]) if z.dtype != torch.float32 else z[r] - lse2[r]
            g.exp_().mul_(w_all[r])  # (c_kd + c_gold) p
            g.addcmul_(q2[r], w_kd[r], value=-1.0)  # - c_kd q
            if eps > 0.0:
                g.sub_(w_gold[r] * eps_i)
            g.scatter_add_(-1, tgt[r], -(1.0 - eps - eps_i) * w_gold[r])
            grad[r] = g
        return grad.view(logits.shape), None, None, None, None, None, None, None, None


def mixed_distillation_loss(logits, teacher: TeacherDistribution, target, mask, coef_kd, coef_gold,
                            eps=0.0, stats: StudentStats = None, block: int = None):
    """Per-token c_kd KL(q || p) + c_gold NLL_eps from the student's logits: (loss, nll, kl).

    `teacher` from `teacher_distribution_`; `coef_kd` / `coef_gold` (B, T) weights; padding
    positions (mask False) get weight 0 and report 0.
    """
    block = block or chunk_rows(logits.size(-1), logits.device)
    if stats is None:
        stats = student_stats(logits, block)
    with torch.no_grad():
        zero = torch.zeros((), dtype=torch.float32, device=logits.device)
        coef_kd = torch.where(mask, coef_kd.float(), zero)
        coef_gold = torch.where(mask, coef_gold.float(), zero)
    loss, nll, kl = _MixedDistillationLoss.apply(logits, teacher.probs, stats.lse, target, coef_kd,
                                                 coef_gold, teacher.neg_entropy, float(eps), block)
    return loss, torch.where(mask, nll, zero), torch.where(mask, kl, zero)


__all__: List[str] = ["TeacherDistribution", "teacher_distribution_",
                      "teacher_distribution_from_log_probs", "StudentStats",
                      "student_stats", "mixed_distillation_loss", "chunk_rows"]
