"""fairseq tasks of fairseq-hgkd; importing this package registers them."""
from fairseq_hgkd.tasks import translation_with_teacher  # noqa: F401
