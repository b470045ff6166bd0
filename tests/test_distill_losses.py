"""Loss values against hand computation, gradient flow, numerics and ensemble averaging."""
import math

import pytest
import torch

from fairseq_hgkd.distill_losses import (
    ensemble_log_probs,
    hard_gate_loss,
    kl_divergence,
    smoothed_nll,
    tempered_log_probs,
    word_kd_loss,
)

P = [[0.7, 0.2, 0.1], [0.3, 0.4, 0.3], [0.5, 0.25, 0.25]]
Q = [[0.6, 0.3, 0.1], [0.3, 0.5, 0.2], [0.5, 0.3, 0.2]]
TARGET = [0, 2, 0]


def _kl(q, p):
    return sum(qi * math.log(qi / pi) for qi, pi in zip(q, p) if qi > 0)


def _batch():
    p = torch.tensor([P]).log()
    q = torch.tensor([Q]).log()
    return p, q, torch.tensor([TARGET]), torch.ones(1, 3, dtype=torch.bool)


def test_kl_divergence_matches_hand_computation():
    p, q, _, mask = _batch()
    kl = kl_divergence(q, p, mask)
    expected = [_kl(Q[t], P[t]) for t in range(3)]
    assert kl[0].tolist() == pytest.approx(expected, rel=1e-5)
    assert expected[0] == pytest.approx(0.6 * math.log(0.6 / 0.7) + 0.3 * math.log(0.3 / 0.2), rel=1e-9)


def test_smoothed_nll_uses_fairseqs_formula():
    p, _, target, mask = _batch()
    loss, nll = smoothed_nll(p, target, mask, epsilon=0.1)
    eps_i = 0.1 / (3 - 1)
    for t in range(3):
        gold = -math.log(P[t][TARGET[t]])
        smooth = -sum(math.log(x) for x in P[t])
        assert nll[0, t].item() == pytest.approx(gold, rel=1e-6)
        assert loss[0, t].item() == pytest.approx((1 - 0.1 - eps_i) * gold + eps_i * smooth, rel=1e-6)
    plain, _ = smoothed_nll(p, target, mask, epsilon=0.0)
    assert torch.equal(plain, nll)


def test_hard_gate_loss_routes_each_token_to_one_source():
    p, q, target, mask = _batch()
    gates = torch.tensor([[True, False, True]])
    loss, nll, kl = hard_gate_loss(p, q, target, mask, gates)
    expected = [_kl(Q[0], P[0]), -math.log(P[1][2]), _kl(Q[2], P[2])]
    assert loss[0].tolist() == pytest.approx(expected, rel=1e-5)
    assert nll[0].tolist() == pytest.approx([-math.log(P[t][TARGET[t]]) for t in range(3)], rel=1e-6)


def test_padding_contributes_nothing():
    p, q, target, _ = _batch()
    mask = torch.tensor([[True, True, False]])
    loss, nll, kl = hard_gate_loss(p, q, target, mask, torch.tensor([[True, False, True]]))
    assert loss[0, 2].item() == 0.0 and nll[0, 2].item() == 0.0 and kl[0, 2].item() == 0.0


def test_word_kd_loss_with_temperature():
    p, q, target, mask = _batch()
    alpha, temp = 0.3, 2.0
    loss, _, kl = word_kd_loss(p, q, target, mask, alpha, temp)

    def tempered(dist):
        w = [x ** (1 / temp) for x in dist]
        return [x / sum(w) for x in w]

    for t in range(3):
        kl_t = _kl(tempered(Q[t]), tempered(P[t]))
        expected = (1 - alpha) * -math.log(P[t][TARGET[t]]) + alpha * temp**2 * kl_t
        assert kl[0, t].item() == pytest.approx(kl_t, rel=1e-4, abs=1e-7)
        assert loss[0, t].item() == pytest.approx(expected, rel=1e-5)


def test_gradients_reach_the_student_only():
    torch.manual_seed(0)
    student_logits = torch.randn(2, 4, 7, requires_grad=True)
    teacher_logits = torch.randn(2, 4, 7, requires_grad=True)
    target = torch.randint(0, 7, (2, 4))
    mask = torch.ones(2, 4, dtype=torch.bool)
    p = tempered_log_probs(student_logits)
    q = tempered_log_probs(teacher_logits, 2.0)
    gates = torch.tensor([[True, False, True, False], [False, True, True, True]])
    total = hard_gate_loss(p, q, target, mask, gates)[0].sum()
    total = total + word_kd_loss(p, q, target, mask, 0.5, 3.0)[0].sum()
    total.backward()
    assert teacher_logits.grad is None
    assert student_logits.grad is not None and student_logits.grad.abs().sum() > 0


def test_kl_gradient_is_student_minus_teacher():
    # d KL(q || softmax(z)) / dz = p - q: the textbook gradient, as a check on the implementation
    z = torch.randn(1, 1, 5, requires_grad=True)
    q = torch.softmax(torch.randn(1, 1, 5), -1)
    kl_divergence(q.log(), tempered_log_probs(z), torch.ones(1, 1, dtype=torch.bool)).sum().backward()
    assert torch.allclose(z.grad, torch.softmax(z, -1).detach() - q, atol=1e-6)


def test_underflowing_probabilities_give_finite_loss_and_gradient():
    student_logits = torch.tensor([[[30.0, 0.0, -30.0]]], requires_grad=True)
    teacher_logits = torch.tensor([[[1000.0, 0.0, -float("inf")]]])  # q has exact zeros
    p = tempered_log_probs(student_logits)
    q = tempered_log_probs(teacher_logits, 0.01)
    mask = torch.ones(1, 1, dtype=torch.bool)
    loss = hard_gate_loss(p, q, torch.tensor([[1]]), mask, torch.tensor([[True]]))[0]
    loss = loss + word_kd_loss(p, q, torch.tensor([[1]]), mask, 0.5, 4.0)[0]
    loss.sum().backward()
    assert torch.isfinite(loss).all()
    assert torch.isfinite(student_logits.grad).all()


def test_tempered_log_probs_is_fp32_for_half_logits():
    logits = torch.randn(2, 3, 5).to(torch.bfloat16)
    out = tempered_log_probs(logits, 1.5)
    assert out.dtype == torch.float32
    assert torch.allclose(out.exp().sum(-1), torch.ones(2, 3))


def test_ensemble_averages_member_probabilities():
    a = torch.softmax(torch.randn(2, 3, 6), -1)
    b = torch.softmax(torch.randn(2, 3, 6), -1)
    c = torch.softmax(torch.randn(2, 3, 6), -1)
    mixed = ensemble_log_probs([a.log(), b.log(), c.log()])
    assert torch.allclose(mixed.exp(), (a + b + c) / 3, atol=1e-6)
    assert torch.equal(ensemble_log_probs([a.log()]), a.log())
