"""The corpora we prepare, each as a function that writes raw/{train,valid,test}.{src,tgt}.

A fetcher takes the raw output directory, the user's local source (--from: a directory or an
archive; None means download from the public source) and writes plain UTF-8 text, one sentence per
line, line-aligned between the two sides. Checks, cleaning, BPE and binarization are shared.
"""
import os
from dataclasses import dataclass
from typing import Callable, Dict, Optional

from fairseq_hgkd.prepare.download import download, verify_sha256
from fairseq_hgkd.prepare.parallel_text import CorpusError, read_lines

Fetcher = Callable[[str, Optional[str], "CorpusSpec"], None]


@dataclass(frozen=True)
class CorpusSpec:
    name: str
    src: str
    tgt: str
    vocab_size: int  # joint sentencepiece BPE vocabulary
    max_ratio: float  # train pairs with a longer/shorter word ratio above this are dropped
    fetch: Fetcher
    description: str


def _write_split(raw_dir: str, split: str, lang: str, lines) -> None:
    with open(os.path.join(raw_dir, f"{split}.{lang}"), "w", encoding="utf-8") as out:
        for line in lines:
            out.write(line.replace("\n", " ") + "\n")


# --- Multi30K task 1 (github.com/multi30k/dataset, data/task1/raw) -------------------------------
MULTI30K_COMMIT = "a3d2e0d26b56f3846f66a952536ffed4e401d05a"
MULTI30K_URL = f"https://github.com/multi30k/dataset/raw/{MULTI30K_COMMIT}/data/task1/raw/{{name}}"
MULTI30K_SPLITS = {"train": "train", "valid": "val", "test": "test_2016_flickr"}
MULTI30K_SHA256 = {
    "train.de.gz": "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "val.de.gz": "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
    "test_2016_flickr.de.gz": "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
}


def fetch_multi30k(raw_dir: str, source: Optional[str], spec: CorpusSpec) -> None:
    download_dir = os.path.join(os.path.dirname(raw_dir), "downloads")
    for split, stem in MULTI30K_SPLITS.items():
        for lang in (spec.src, spec.tgt):
            name = f"{stem}.{lang}.gz"
            if source is not None:
                path = os.path.join(source, name)
                if not os.path.isfile(path) and os.path.isfile(path[:-3]):
                    path = path[:-3]  # an uncompressed copy cannot be checked against the sums
                if not os.path.isfile(path):
                    raise CorpusError(
                        f"Multi30K file {name} not found in {source}; it must hold "
                        f"{', '.join(sorted(MULTI30K_SHA256))} (data/task1/raw of the Multi30K "
                        "repository)"
                    )
            else:
                path = download(
                    MULTI30K_URL.format(name=name), os.path.join(download_dir, name),
                    offline_hint="offline? put the Multi30K task-1 raw files (train, val, "
                    "test_2016_flickr, .de/.en.gz) in a directory and pass --from DIR or set "
                    "MULTI30K_DIR",
                )
            if path.endswith(".gz"):
                verify_sha256(path, MULTI30K_SHA256[name])
            _write_split(raw_dir, split, lang, read_lines(path))


# --- Any local parallel corpus --------------------------------------------------------------------
def fetch_local(raw_dir: str, source: Optional[str], spec: CorpusSpec) -> None:
    if source is None:
        raise CorpusError(
            "the local corpus needs --from DIR holding train.SRC/train.TGT, valid.*, test.* "
            "(plain text or .gz, one sentence per line)"
        )
    for split in ("train", "valid", "test"):
        for lang in (spec.src, spec.tgt):
            path = os.path.join(source, f"{split}.{lang}")
            if not os.path.isfile(path) and os.path.isfile(path + ".gz"):
                path += ".gz"
            if not os.path.isfile(path):
                raise CorpusError(
                    f"missing {split} split: {os.path.join(source, f'{split}.{lang}')} "
                    f"(or .gz) does not exist; the local corpus needs train, valid and test "
                    f"for both {spec.src} and {spec.tgt}"
                )
            _write_split(raw_dir, split, lang, read_lines(path))


CORPORA: Dict[str, CorpusSpec] = {
    spec.name: spec
    for spec in (
        CorpusSpec("multi30k_de_en", "de", "en", 8000, 3.0, fetch_multi30k,
                   "Multi30K task 1, train / val / test_2016_flickr"),
    )
}


def local_corpus(src: str, tgt: str, vocab_size: int = 8000, max_ratio: float = 3.0) -> CorpusSpec:
    return CorpusSpec("local", src, tgt, vocab_size, max_ratio, fetch_local,
                      "local parallel text: train/valid/test.{src,tgt}")
