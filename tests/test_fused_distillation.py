"""The fused loss (from logits, few vocabulary passes) against the reference pure functions."""
import pytest
import torch

from fairseq_hgkd.distill_losses import ensemble_log_probs, mixed_loss, tempered_log_probs
from fairseq_hgkd.fused_distillation import (
    mixed_distillation_loss,
    student_stats,
    teacher_distribution_,
    teacher_distribution_from_log_probs,
)


def _case(seed, vocab=17, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(3, 5, vocab, generator=g) * 3).to(dtype).requires_grad_(True)
    teacher = torch.randn(3, 5, vocab, generator=g) * 4
    teacher[0, 1, :4] = -float("inf")  # exact zeros in q
    teacher[1, 2] *= 60  # a nearly one-hot teacher: q underflows
    target = torch.randint(0, vocab, (3, 5), generator=g)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[2, 3:] = False
    gates = torch.rand(3, 5, generator=g) > 0.5
    return logits, tempered_log_probs(teacher), target, mask, gates


@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("weights", ["gates", "word_kd"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fused_equals_reference_in_value_and_gradient(eps, weights, seed):
    logits, lq, target, mask, gates = _case(seed)
    if weights == "gates":
        coef_kd, coef_gold = gates.float(), 1.0 - gates.float()
    else:
        coef_kd, coef_gold = torch.full(target.shape, 0.3), torch.full(target.shape, 0.7)
    upstream = torch.rand(3, 5, generator=torch.Generator().manual_seed(9))

    ref_logits = logits.detach().clone().requires_grad_(True)
    ref = mixed_loss(tempered_log_probs(ref_logits), lq, target, mask, coef_kd, coef_gold, eps)
    (ref[0] * upstream).sum().backward()
    fused = mixed_distillation_loss(logits, teacher_distribution_from_log_probs(lq), target, mask,
                                    coef_kd, coef_gold, eps)
    (fused[0] * upstream).sum().backward()
    for a, b in zip(fused, ref):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)
    assert torch.allclose(logits.grad, ref_logits.grad, atol=1e-6, rtol=1e-5)
    assert torch.isfinite(logits.grad).all()
    assert logits.grad[2, 3:].abs().sum() == 0  # padding gets no gradient


def test_half_precision_logits_compute_in_fp32():
    logits, lq, target, mask, gates = _case(3, dtype=torch.bfloat16)
    loss, nll, kl = mixed_distillation_loss(logits, teacher_distribution_from_log_probs(lq), target,
                                            mask, gates.float(), 1 - gates.float())
    assert loss.dtype == torch.float32 and torch.isfinite(loss).all()
    loss.sum().backward()
    assert logits.grad.dtype == torch.bfloat16
    reference = mixed_loss(tempered_log_probs(logits.detach().float()), lq, target, mask,
                           gates.float(), 1 - gates.float())[0]
    assert torch.allclose(loss, reference, atol=1e-4)


def test_student_stats():
    logits, *_ = _case(4)
    stats = student_stats(logits)
    lp = tempered_log_probs(logits.detach())
    assert torch.allclose(stats.lse, torch.logsumexp(logits.detach(), -1))
    assert torch.equal(stats.prediction, lp.argmax(-1))
    assert torch.allclose(stats.confidence, lp.max(-1).values.exp())
    tokens = torch.randint(0, 17, (3, 5))
    assert torch.allclose(stats.log_prob_at(tokens), lp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1))


@pytest.mark.parametrize("members", [1, 2])
@pytest.mark.parametrize("block", [1, 4, None])
def test_teacher_distribution_in_blocks_matches_log_softmax(members, block):
    g = torch.Generator().manual_seed(5)
    logits = [torch.randn(2, 3, 11, generator=g) * 5 for _ in range(members)]
    logits[0][0, 0, :3] = -float("inf")  # masked vocabulary entries
    logits[0][1, 2] *= 80  # q underflows for most entries, log q must stay exact
    tokens = {"gold": torch.randint(0, 11, (2, 3), generator=g)}
    expected = ensemble_log_probs([tempered_log_probs(x, 0.7) for x in logits])
    dist = teacher_distribution_([x.clone() for x in logits], 0.7, tokens, block)
    assert torch.allclose(dist.probs, expected.exp(), atol=1e-6)
    assert torch.equal(dist.argmax, expected.argmax(-1))
    q = expected.exp()
    assert torch.allclose(dist.neg_entropy, torch.xlogy(q, q).sum(-1), atol=1e-5)
    exact = expected.gather(-1, tokens["gold"].unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(dist.log_probs_at["gold"], exact, atol=1e-5)
    assert bool(dist.finite)
    logits[-1][0, 1, 4] = float("nan")
    assert not bool(teacher_distribution_(logits, 1.0, tokens, block).finite)


def test_block_size_does_not_change_loss_or_gradient():
    results = []
    for block in (1, 3, None):
        logits, lq, target, mask, gates = _case(6, vocab=29)
        teacher = teacher_distribution_from_log_probs(lq)
        loss = mixed_distillation_loss(logits, teacher, target, mask, gates.float(),
                                       1 - gates.float(), 0.1, block=block)[0]
        loss.sum().backward()
        results.append((loss.detach(), logits.grad))
    for loss, grad in results[1:]:
        assert torch.allclose(loss, results[0][0], atol=1e-6)
        assert torch.allclose(grad, results[0][1], atol=1e-7)
