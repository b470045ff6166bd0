"""Fetching corpus files: from a local copy when given, else from their public source."""
import hashlib
import os
import shutil
import sys
import urllib.error
import urllib.request
from typing import Optional

from fairseq_hgkd.atomic_io import atomic_file
from fairseq_hgkd.prepare.parallel_text import CorpusError


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: str, expected: Optional[str]) -> None:
    if expected is None:
        return
    actual = sha256_of(path)
    if actual != expected:
        raise CorpusError(
            f"{path} has SHA-256 {actual[:16]}..., expected {expected[:16]}...; the file is "
            "corrupt or a different release: delete it and fetch it again"
        )


def download(url: str, dest: str, offline_hint: str, timeout: float = 60.0) -> str:
    """Download `url` to `dest` atomically with progress on stderr; one-line error when offline."""
    if os.path.isfile(dest):
        return dest
    print(f"[prepare] downloading {url}", file=sys.stderr, flush=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, \
                atomic_file(dest, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done, next_report = 0, 0.1
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                done += len(block)
                if total and done / total >= next_report:
                    print(f"[prepare]   {done / total:4.0%} of {total >> 20} MiB", file=sys.stderr,
                          flush=True)
                    next_report += 0.1
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise CorpusError(f"cannot download {url} ({error}); {offline_hint}") from None
    return dest


def copy_file(src: str, dest: str) -> str:
    with open(src, "rb") as fin, atomic_file(dest, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
    return dest
