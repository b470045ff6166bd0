"""fairseq-hgkd: hard-gate knowledge distillation (Lee et al., EMNLP 2022) for fairseq.

Importing the package (fairseq does so for `--user-dir`) registers the task
`translation_with_teacher` and the criteria `hgkd_token`, `hgkd_sentence` and `word_kd`, and makes
fairseq's checkpoint loading work under torch's weights-only unpickler (see safe_checkpoint.py) and
its checkpoint copies atomic (checkpoint_writes.py).
"""
__version__ = "0.1.0"

import logging

# fairseq logs an INFO line about tensorboardX at import; it is noise for text translation
logging.getLogger("fairseq.tasks.text_to_speech").setLevel(logging.WARNING)

try:
    import fairseq  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "fairseq-hgkd needs fairseq: run `make install`, or pip install fairseq-fixed==0.12.3.1 "
        "--no-deps --no-build-isolation plus requirements/runtime.txt (see README.md)"
    ) from error

from fairseq_hgkd import checkpoint_writes, safe_checkpoint
from fairseq_hgkd.errors import install_excepthook

safe_checkpoint.install()
checkpoint_writes.install()
install_excepthook()

from fairseq_hgkd import criterions, tasks  # noqa: E402,F401  (registers them with fairseq)
