"""Atomic checkpoint copies, so a failed write never destroys the previous good checkpoint.

fairseq writes the first checkpoint of a save atomically (to .tmp, then rename) but makes the
others (checkpoint_last.pt, checkpoint_best.pt, ...) with a plain copy over the old file: a disk
that fills up during that copy leaves a truncated checkpoint_last.pt and no good one to resume
from. `install()` makes fairseq's local-file copy write a temporary file and rename it.
"""
import functools
import os
import shutil
import tempfile

_installed = False


def atomic_copy(src_path: str, dst_path: str) -> bool:
    directory = os.path.dirname(os.path.abspath(dst_path)) or "."
    fd, scratch = tempfile.mkstemp(prefix=f".{os.path.basename(dst_path)}.partial-", dir=directory)
    os.close(fd)
    try:
        shutil.copyfile(src_path, scratch)
        with open(scratch, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(scratch, dst_path)
    finally:
        if os.path.exists(scratch):
            os.remove(scratch)
    return True


def install() -> None:
    global _installed
    if _installed:
        return
    from fairseq.file_io import PathManager

    original = PathManager.copy

    @functools.wraps(original)
    def copy(src_path: str, dst_path: str, overwrite: bool = False) -> bool:
        local = "://" not in str(src_path) and "://" not in str(dst_path)
        if local and os.path.isfile(src_path):
            if os.path.exists(dst_path) and not overwrite:
                return original(src_path, dst_path, overwrite)  # keep fairseq's own behaviour
            return atomic_copy(src_path, dst_path)
        return original(src_path, dst_path, overwrite)

    PathManager.copy = staticmethod(copy)
    _installed = True
