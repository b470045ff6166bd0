"""Catching a corrupted or mismatched data-bin when a split is loaded, not hours into training.

fairseq's memory-mapped datasets trust that each .bin file holds what its .idx file says; a
truncated copy or an .idx from another run only fails (or silently reads garbage) when a bad
sentence is reached. We compare the index with the data file size, and the two sides' sentence
counts, before training starts.
"""
import os
import struct

import numpy as np

from fairseq_hgkd.errors import HgkdError

_MMAP_MAGIC = b"MMIDIDX\x00\x00"
_ITEM_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 8, 7: 8, 8: 2, 9: 4, 10: 8}  # fairseq dtype codes


class DataBinError(HgkdError):
    """A data-bin file does not match its index or its other side."""


def _fix() -> str:
    return "re-binarize it (hgkd-prepare ... --force, or fairseq-preprocess)"


def mmap_sentence_count(prefix: str) -> int:
    """Sentences in `prefix`.idx/.bin after checking the .bin size against the index; -1 if the
    split is not in fairseq's memory-mapped format (nothing to check)."""
    index, data = prefix + ".idx", prefix + ".bin"
    with open(index, "rb") as handle:
        if handle.read(9) != _MMAP_MAGIC:
            return -1
        handle.read(8)  # version
        (code,) = struct.unpack("<B", handle.read(1))
        (count,) = struct.unpack("<Q", handle.read(8))
        header = handle.tell()
    expected_index = header + count * 4 + count * 8
    if os.path.getsize(index) < expected_index:
        raise DataBinError(f"{index} is truncated ({os.path.getsize(index)} bytes, the header "
                           f"announces {count} sentences); {_fix()}")
    if count == 0:
        expected_data = 0
    else:
        sizes = np.memmap(index, dtype=np.int32, mode="r", offset=header, shape=(count,))
        pointers = np.memmap(index, dtype=np.int64, mode="r", offset=header + count * 4, shape=(count,))
        expected_data = int(pointers[-1]) + int(sizes[-1]) * _ITEM_SIZE.get(code, 8)
        del sizes, pointers
    actual = os.path.getsize(data) if os.path.isfile(data) else None
    if actual is None:
        raise DataBinError(f"{data} is missing although {index} exists; {_fix()}")
    if actual != expected_data:
        raise DataBinError(f"{data} has {actual} bytes but its index {os.path.basename(index)} "
                           f"describes {expected_data}; the data-bin is corrupted or mixed from "
                           f"two runs: {_fix()}")
    return count


def check_split(data_dir: str, split: str, src: str, tgt: str) -> None:
    """Check both sides of `split` in `data_dir`, when it is there in the memory-mapped format."""
    for pair in (f"{src}-{tgt}", f"{tgt}-{src}"):
        prefixes = [os.path.join(data_dir, f"{split}.{pair}.{lang}") for lang in (src, tgt)]
        if all(os.path.isfile(p + ".idx") for p in prefixes):
            counts = [mmap_sentence_count(p) for p in prefixes]
            if -1 not in counts and counts[0] != counts[1]:
                raise DataBinError(
                    f"{split} in {data_dir} has {counts[0]} {src} sentences but {counts[1]} {tgt} "
                    f"sentences; the two sides come from different runs: {_fix()}")
            return
