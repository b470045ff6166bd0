"""The corpora we prepare, each as a function that writes raw/{train,valid,test}.{src,tgt}.

A fetcher takes the raw output directory, the user's local source (--from: a directory or an
archive; None means download from the public source) and writes plain UTF-8 text, one sentence per
line, line-aligned between the two sides. Checks, cleaning, BPE and binarization are shared.
"""
import os
import re
from dataclasses import dataclass
from typing import Callable, Dict, Optional

from fairseq_hgkd.prepare.download import download, verify_sha256
from fairseq_hgkd.prepare.locate import locate
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


# --- shared helpers ---------------------------------------------------------------------------
def _work_dir(raw_dir: str) -> str:
    return os.path.dirname(os.path.abspath(raw_dir))


def _aligned(src_lines, tgt_lines, what: str):
    src_lines, tgt_lines = list(src_lines), list(tgt_lines)
    if len(src_lines) != len(tgt_lines):
        raise CorpusError(f"{what} is not line-aligned: {len(src_lines)} source lines but "
                          f"{len(tgt_lines)} target lines")
    return src_lines, tgt_lines


_SEGMENT = re.compile(r"<seg id=\"?\d+\"?>\s*(.*?)\s*</seg>")


def sgml_segments(path: str):
    """The sentences of an IWSLT/WMT .xml/.sgm file (one <seg id="..."> element per line)."""
    for line in read_lines(path):
        match = _SEGMENT.search(line)
        if match:
            yield match.group(1).replace("\u2019", "'")


def _keep(src_line: str, tgt_line: str, max_len: int, ratio: float) -> bool:
    n_src, n_tgt = len(src_line.split()), len(tgt_line.split())
    return 1 <= n_src <= max_len and 1 <= n_tgt <= max_len and max(n_src, n_tgt) <= ratio * min(n_src, n_tgt)


# --- IWSLT14 DE-EN, the split convention of fairseq's examples/translation/prepare-iwslt14.sh -----
IWSLT14_URLS = {"de-en.tgz": "http://dl.fbaipublicfiles.com/fairseq/data/iwslt14/de-en.tgz"}
IWSLT14_TEST_SETS = ("IWSLT14.TED.dev2010", "IWSLT14.TEDX.dev2012", "IWSLT14.TED.tst2010",
                     "IWSLT14.TED.tst2011", "IWSLT14.TED.tst2012")
_IWSLT_METADATA = ("<url>", "<talkid>", "<keywords>")
_IWSLT_TAGS = re.compile(r"</?(title|description)>")


def iwslt_train_lines(path: str):
    """train.tags.*: metadata lines dropped, title/description tags removed (as fairseq does)."""
    for line in read_lines(path):
        if any(tag in line for tag in _IWSLT_METADATA):
            continue
        yield _IWSLT_TAGS.sub("", line).strip()


def fetch_iwslt14(raw_dir: str, source: Optional[str], spec: CorpusSpec) -> None:
    """valid = every 23rd pair of the cleaned training data, test = dev2010 + TEDX dev2012 +
    tst2010-2012 concatenated, as fairseq's recipe (which also lowercases and Moses-tokenizes;
    we keep the text as is for sentencepiece)."""
    s, t = spec.src, spec.tgt
    names = [f"train.tags.de-en.{lang}" for lang in (s, t)]
    names += [f"{name}.de-en.{lang}.xml" for name in IWSLT14_TEST_SETS for lang in (s, t)]
    files = locate(names, source, _work_dir(raw_dir), IWSLT14_URLS,
                   "offline? download de-en.tgz (IWSLT14, e.g. from fairseq's prepare-iwslt14.sh "
                   "address) and pass --from with the archive or its extracted directory")
    src_lines, tgt_lines = _aligned(iwslt_train_lines(files[names[0]]),
                                    iwslt_train_lines(files[names[1]]), "IWSLT14 train.tags")
    pairs = [(a, b) for a, b in zip(src_lines, tgt_lines) if _keep(a, b, 175, 1.5)]
    valid = [p for i, p in enumerate(pairs, start=1) if i % 23 == 0]
    train = [p for i, p in enumerate(pairs, start=1) if i % 23 != 0]
    test_src, test_tgt = [], []
    for name in IWSLT14_TEST_SETS:
        a, b = _aligned(sgml_segments(files[f"{name}.de-en.{s}.xml"]),
                        sgml_segments(files[f"{name}.de-en.{t}.xml"]), name)
        test_src += a
        test_tgt += b
    for split, split_pairs in (("train", train), ("valid", valid)):
        _write_split(raw_dir, split, s, (p[0] for p in split_pairs))
        _write_split(raw_dir, split, t, (p[1] for p in split_pairs))
    _write_split(raw_dir, "test", s, test_src)
    _write_split(raw_dir, "test", t, test_tgt)


# --- IWSLT15 EN-VI, the preprocessed release of the Stanford NMT group ----------------------------
IWSLT15_BASE = "https://nlp.stanford.edu/projects/nmt/data/iwslt15.en-vi/"
IWSLT15_SPLITS = {"train": "train", "valid": "tst2012", "test": "tst2013"}


def fetch_iwslt15(raw_dir: str, source: Optional[str], spec: CorpusSpec) -> None:
    names = [f"{stem}.{lang}" for stem in IWSLT15_SPLITS.values() for lang in (spec.src, spec.tgt)]
    files = locate(names, source, _work_dir(raw_dir), {n: IWSLT15_BASE + n for n in names},
                   "offline? put train.{en,vi}, tst2012.{en,vi} and tst2013.{en,vi} of the "
                   "Stanford IWSLT15 en-vi release in a directory and pass --from DIR")
    for split, stem in IWSLT15_SPLITS.items():
        for lang in (spec.src, spec.tgt):
            _write_split(raw_dir, split, lang, read_lines(files[f"{stem}.{lang}"]))


# --- WMT14 EN-DE: Europarl v7 + Common Crawl + News Commentary v9; newstest2013 / newstest2014 ----
WMT14_URLS = {
    "training-parallel-europarl-v7.tgz": "http://statmt.org/wmt13/training-parallel-europarl-v7.tgz",
    "training-parallel-commoncrawl.tgz": "http://statmt.org/wmt13/training-parallel-commoncrawl.tgz",
    "training-parallel-nc-v9.tgz": "http://statmt.org/wmt14/training-parallel-nc-v9.tgz",
    "dev.tgz": "http://statmt.org/wmt14/dev.tgz",
    "test-full.tgz": "http://statmt.org/wmt14/test-full.tgz",
}
WMT14_TRAIN = ("europarl-v7.de-en", "commoncrawl.de-en", "news-commentary-v9.de-en")


def fetch_wmt14(raw_dir: str, source: Optional[str], spec: CorpusSpec) -> None:
    s, t = spec.src, spec.tgt
    test_names = {lang: f"newstest2014-deen-{'src' if lang == s else 'ref'}.{lang}.sgm" for lang in (s, t)}
    names = [f"{c}.{lang}" for c in WMT14_TRAIN for lang in (s, t)]
    names += [f"newstest2013.{lang}" for lang in (s, t)] + list(test_names.values())
    files = locate(names, source, _work_dir(raw_dir), WMT14_URLS,
                   "offline? put the WMT14 archives (" + ", ".join(WMT14_URLS) + ") or their "
                   "extracted files in a directory and pass --from DIR")
    with open(os.path.join(raw_dir, f"train.{s}"), "w", encoding="utf-8") as out_s, \
            open(os.path.join(raw_dir, f"train.{t}"), "w", encoding="utf-8") as out_t:
        for corpus in WMT14_TRAIN:
            n_s = n_t = 0
            for line in read_lines(files[f"{corpus}.{s}"]):
                out_s.write(line.replace("\r", " ") + "\n")
                n_s += 1
            for line in read_lines(files[f"{corpus}.{t}"]):
                out_t.write(line.replace("\r", " ") + "\n")
                n_t += 1
            if n_s != n_t:
                raise CorpusError(f"{corpus} is not line-aligned: {n_s} {s} lines, {n_t} {t} lines")
    for lang in (s, t):
        _write_split(raw_dir, "valid", lang, read_lines(files[f"newstest2013.{lang}"]))
        _write_split(raw_dir, "test", lang, sgml_segments(files[test_names[lang]]))


CORPORA: Dict[str, CorpusSpec] = {
    spec.name: spec
    for spec in (
        CorpusSpec("multi30k_de_en", "de", "en", 8000, 3.0, fetch_multi30k,
                   "Multi30K task 1, train / val / test_2016_flickr"),
        CorpusSpec("iwslt14_de_en", "de", "en", 10000, 1.5, fetch_iwslt14,
                   "IWSLT14 TED, fairseq's split: valid from train, five dev/test sets as test"),
        CorpusSpec("iwslt15_en_vi", "en", "vi", 8000, 3.0, fetch_iwslt15,
                   "IWSLT15 en-vi (Stanford release): train / tst2012 / tst2013"),
        CorpusSpec("wmt14_en_de", "en", "de", 32000, 3.0, fetch_wmt14,
                   "WMT14 en-de: Europarl v7, Common Crawl, News Commentary v9; newstest2013/2014"),
    )
}


def local_corpus(src: str, tgt: str, vocab_size: int = 8000, max_ratio: float = 3.0) -> CorpusSpec:
    return CorpusSpec("local", src, tgt, vocab_size, max_ratio, fetch_local,
                      "local parallel text: train/valid/test.{src,tgt}")
