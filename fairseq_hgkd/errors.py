"""User-facing errors: one line that says what is wrong and how to fix it, and a non-zero exit."""
import sys


class HgkdError(Exception):
    """An error in the user's input or files, explained in one line (no traceback needed)."""


_PROGRAM = "fairseq-hgkd"


def install_excepthook() -> None:
    """Print an uncaught HgkdError as one line on stderr; leave every other exception to Python.

    fairseq's CLIs (fairseq-train, fairseq-generate) call our code without catching anything, so an
    excepthook is the one place where their tracebacks can be replaced by our single line.
    """
    if getattr(sys.excepthook, "_hgkd", False):
        return
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        if isinstance(exc, HgkdError):
            sys.stderr.write(f"{_PROGRAM}: error: {exc}\n")
            sys.stderr.flush()
        else:
            previous(exc_type, exc, tb)

    hook._hgkd = True
    sys.excepthook = hook


def one_line_errors(program: str):
    """Decorate a console script's main(argv): an HgkdError becomes `program: error: ...` on stderr
    and exit status 2, like argparse's own usage errors."""
    import functools

    def decorate(main):
        @functools.wraps(main)
        def run(argv=None) -> int:
            try:
                return main(argv)
            except HgkdError as error:
                print(f"{program}: error: {error}", file=sys.stderr)
                return 2

        return run

    return decorate
