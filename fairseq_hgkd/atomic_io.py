"""Writes that are all-or-nothing, so an interrupted step never leaves output a rerun would trust."""
import contextlib
import json
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_directory(final: str, overwrite: bool = False):
    """Yield a scratch directory that becomes `final` only if the block finishes without error."""
    parent = os.path.dirname(os.path.abspath(final)) or "."
    os.makedirs(parent, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=f".{os.path.basename(final)}.partial-", dir=parent)
    try:
        yield scratch
        if os.path.exists(final):
            if not overwrite:
                raise FileExistsError(f"{final} already exists")
            shutil.rmtree(final)
        os.replace(scratch, final)
    finally:
        if os.path.exists(scratch):
            shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(final: str, mode: str = "w", **open_kwargs):
    """Open a temporary file beside `final`; it replaces `final` only when the block succeeds."""
    parent = os.path.dirname(os.path.abspath(final)) or "."
    os.makedirs(parent, exist_ok=True)
    fd, scratch = tempfile.mkstemp(prefix=f".{os.path.basename(final)}.partial-", dir=parent)
    os.close(fd)
    try:
        with open(scratch, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(scratch, final)
    finally:
        if os.path.exists(scratch):
            os.remove(scratch)


def write_json(path: str, data) -> None:
    with atomic_file(path, encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")


def remove_stale_partials(directory: str) -> None:
    """Delete scratch files and directories left by a killed run (they are never trusted)."""
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        if name.startswith(".") and ".partial-" in name:
            path = os.path.join(directory, name)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)
