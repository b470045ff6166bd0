"""fairseq criteria of fairseq-hgkd; importing this package registers them."""
from fairseq_hgkd.criterions import hard_gate_kd, word_kd  # noqa: F401
