"""Reading and checking raw parallel text: aligned, non-empty, UTF-8."""
import gzip
import os
from typing import Iterator, List

from fairseq_hgkd.errors import HgkdError

SPLITS = ("train", "valid", "test")


class CorpusError(HgkdError):
    """The input corpus is missing, misaligned, empty or not UTF-8."""


def open_text(path: str):
    """Open plain or gzip-compressed text for reading as bytes."""
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def read_lines(path: str) -> Iterator[str]:
    """Lines without their newline; a non-UTF-8 line stops with its line number and a fix."""
    with open_text(path) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as error:
                raise CorpusError(
                    f"{path} line {number} is not UTF-8 (byte 0x{raw[error.start]:02x} at column "
                    f"{error.start + 1}); convert the file, e.g. iconv -f LATIN1 -t UTF-8"
                ) from None


def count_lines(path: str) -> int:
    with open_text(path) as handle:
        return sum(1 for _ in handle)


def check_parallel(prefix: str, src: str, tgt: str, split: str) -> int:
    """Check `prefix.src` / `prefix.tgt`: both exist, same line count, not empty. Returns lines."""
    paths = [f"{prefix}.{lang}" for lang in (src, tgt)]
    for path in paths:
        if not os.path.isfile(path):
            raise CorpusError(f"missing {split} split: {path} does not exist")
    counts = [count_lines(path) for path in paths]
    if counts[0] != counts[1]:
        raise CorpusError(
            f"{split} split is not line-aligned: {paths[0]} has {counts[0]} lines but "
            f"{paths[1]} has {counts[1]}; every line must translate the line of the other side"
        )
    if counts[0] == 0:
        raise CorpusError(f"{split} split is empty: {paths[0]} has no lines")
    return counts[0]


def write_lines(handle, lines: List[str]) -> None:
    for line in lines:
        handle.write(line.replace("\n", " ") + "\n")
