"""Command-line tools of fairseq-hgkd (console scripts hgkd-*)."""
import logging


def quiet_logging() -> None:
    """Our tools print their own progress; keep library INFO/DEBUG chatter out of the way."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("fairseq", "fairseq_cli", "matplotlib", "PIL"):
        logging.getLogger(name).setLevel(logging.WARNING)
