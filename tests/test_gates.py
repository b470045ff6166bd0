"""Gate decisions on crafted distributions, checked against hand-computed comparisons."""
import torch

from fairseq_hgkd.gates import compared_tokens, sentence_gate, token_gate

PAD = 1
# sentence 0: tokens 0..2 and one padding position; sentence 1: two tokens and two paddings
STUDENT = [
    [[0.7, 0.2, 0.1], [0.3, 0.4, 0.3], [0.5, 0.25, 0.25], [0.2, 0.6, 0.2]],
    [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.2, 0.6, 0.2], [0.2, 0.6, 0.2]],
]
TEACHER = [
    [[0.6, 0.3, 0.1], [0.3, 0.5, 0.2], [0.5, 0.3, 0.2], [0.01, 0.98, 0.01]],
    [[0.5, 0.25, 0.25], [0.5, 0.3, 0.2], [0.01, 0.98, 0.01], [0.01, 0.98, 0.01]],
]
TARGET = [[0, 2, 0, PAD], [0, 0, PAD, PAD]]


def _inputs():
    p = torch.tensor(STUDENT).log()
    q = torch.tensor(TEACHER).log()
    target = torch.tensor(TARGET)
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    return p, q, target, mask


def test_token_gate_on_gold_tokens():
    p, q, target, mask = _inputs()
    gate = token_gate(p, q, target, mask)
    # s0: 0.7>0.6 yes; 0.3>0.2 yes; 0.5 vs 0.5 tie -> gold; pad -> never
    # s1: 0.9>0.5 yes; p(0)=0.1 > q(0)=0.5 no
    assert gate.tolist() == [[True, True, False, False], [True, False, False, False]]


def test_padding_is_never_gated_even_where_student_is_overconfident():
    p, q, target, mask = _inputs()
    target = target.clone()
    target[1, 2:] = 0  # padding slots where the student (0.2) beats the teacher (0.01)
    assert token_gate(p, q, target, torch.ones_like(mask))[1, 2:].tolist() == [True, True]
    assert token_gate(p, q, target, mask)[1, 2:].tolist() == [False, False]


def test_token_gate_on_student_prediction():
    p, q, target, mask = _inputs()
    prediction = p.argmax(-1)
    compared = compared_tokens(target, prediction, "prediction")
    assert compared.tolist()[0][:3] == [0, 1, 0]
    gate = token_gate(p, q, compared, mask)
    # s0: argmax 0: 0.7>0.6 yes; argmax 1: 0.4 vs 0.5 no; argmax 0: 0.5 tie no
    # s1: argmax 0: 0.9>0.5 yes; argmax 1: 0.8>0.3 yes
    assert gate.tolist() == [[True, False, False, False], [True, True, False, False]]


def test_sentence_gate_and_disagreement_with_token_gates():
    p, q, target, mask = _inputs()
    gate = sentence_gate(p, q, target, mask)
    # s0: 0.7*0.3*0.5 = 0.105 > 0.6*0.2*0.5 = 0.06 -> teacher
    # s1: 0.9*0.1 = 0.09 < 0.5*0.5 = 0.25 -> gold, although its first token alone is gated
    assert gate.tolist() == [True, False]
    assert token_gate(p, q, target, mask)[1, 0].item() is True


def test_sentence_gate_ignores_padding_positions():
    p, q, target, mask = _inputs()
    target = target.clone()
    target[1, 2:] = 0  # counted, these slots (0.2 vs 0.01 twice) would flip s1 to the teacher
    assert sentence_gate(p, q, target, torch.ones_like(mask)).tolist() == [True, True]
    assert sentence_gate(p, q, target, mask).tolist() == [True, False]


def test_exact_tie_goes_to_gold_data():
    p = torch.tensor([[[0.5, 0.5]]]).log()
    gate = token_gate(p, p.clone(), torch.tensor([[0]]), torch.tensor([[True]]))
    assert gate.tolist() == [[False]]
    assert sentence_gate(p, p.clone(), torch.tensor([[0]]), torch.tensor([[True]])).tolist() == [False]


def test_gates_carry_no_gradient():
    p, q, target, mask = _inputs()
    p.requires_grad_(True)
    assert not token_gate(p, q, target, mask).requires_grad
    assert not sentence_gate(p, q, target, mask).requires_grad
