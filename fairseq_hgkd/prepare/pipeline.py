"""The preparation steps, each idempotent and atomic.

OUT/raw       the corpus as given: {train,valid,test}.{src,tgt}, checked (aligned, UTF-8, non-empty)
OUT/clean     train filtered by length and length ratio (valid/test untouched)
OUT/spm       joint sentencepiece BPE model trained on the cleaned train
OUT/bpe       every split encoded with it
OUT/data-bin  fairseq-preprocess --joined-dictionary output, plus spm.model and hgkd_data.json

A step's directory appears only when the step finished (written under a scratch name, then
renamed), so a rerun skips finished steps and redoes an interrupted one from scratch.
OUT/prepare.json records the settings; a rerun with other settings is refused unless --force.
"""
import dataclasses
import os
import shutil
import subprocess
import sys
import time
from typing import Optional

from fairseq_hgkd.atomic_io import atomic_directory, remove_stale_partials, write_json
from fairseq_hgkd.errors import HgkdError
from fairseq_hgkd.prepare.corpora import CorpusSpec
from fairseq_hgkd.prepare.parallel_text import SPLITS, check_parallel, read_lines

STEPS = ("raw", "clean", "spm", "bpe", "data-bin")
DATA_INFO = "hgkd_data.json"


@dataclasses.dataclass
class PrepareSettings:
    vocab_size: int
    max_len: int = 175  # words per side, train only
    max_ratio: float = 3.0
    train_limit: Optional[int] = None  # keep only the first N training pairs (smoke runs, tests)
    spm_sentences: int = 2_000_000  # sentencepiece samples at most this many training lines


def _log(message: str) -> None:
    print(f"[prepare] {message}", file=sys.stderr, flush=True)


def _settings_record(spec: CorpusSpec, settings: PrepareSettings, source: Optional[str]) -> dict:
    return {
        "dataset": spec.name,
        "source_lang": spec.src,
        "target_lang": spec.tgt,
        "settings": dataclasses.asdict(settings),
        "from": os.path.abspath(source) if source else None,
    }


def _check_settings(out: str, record: dict, force: bool) -> None:
    import json

    path = os.path.join(out, "prepare.json")
    if force or not os.path.isfile(path):
        return
    with open(path, encoding="utf-8") as handle:
        previous = json.load(handle)
    keys = ("dataset", "source_lang", "target_lang", "settings")
    changed = [k for k in keys if previous.get(k) != record.get(k)]
    if changed:
        raise HgkdError(
            f"{out} was prepared with other settings ({', '.join(changed)} differ: "
            f"{ {k: previous.get(k) for k in changed} }); use another output directory, or "
            "--force to redo every step"
        )


def step_raw(out: str, spec: CorpusSpec, source: Optional[str], replace: bool = False) -> None:
    with atomic_directory(os.path.join(out, "raw"), overwrite=replace) as scratch:
        spec.fetch(scratch, source, spec)
        for split in SPLITS:
            lines = check_parallel(os.path.join(scratch, split), spec.src, spec.tgt, split)
            _log(f"raw {split}: {lines} sentence pairs")


def _keep_pair(src_line: str, tgt_line: str, settings: PrepareSettings) -> bool:
    n_src, n_tgt = len(src_line.split()), len(tgt_line.split())
    if not (1 <= n_src <= settings.max_len and 1 <= n_tgt <= settings.max_len):
        return False
    return max(n_src, n_tgt) / min(n_src, n_tgt) <= settings.max_ratio


def step_clean(out: str, spec: CorpusSpec, settings: PrepareSettings) -> None:
    raw = os.path.join(out, "raw")
    with atomic_directory(os.path.join(out, "clean")) as scratch:
        kept = total = 0
        src_out = open(os.path.join(scratch, f"train.{spec.src}"), "w", encoding="utf-8")
        tgt_out = open(os.path.join(scratch, f"train.{spec.tgt}"), "w", encoding="utf-8")
        with src_out, tgt_out:
            pairs = zip(read_lines(os.path.join(raw, f"train.{spec.src}")),
                        read_lines(os.path.join(raw, f"train.{spec.tgt}")))
            for s, t in pairs:
                if settings.train_limit is not None and total >= settings.train_limit:
                    break
                total += 1
                if _keep_pair(s, t, settings):
                    src_out.write(s + "\n")
                    tgt_out.write(t + "\n")
                    kept += 1
        if kept == 0:
            raise HgkdError("cleaning removed every training pair; check the corpus or --max-len")
        for split in ("valid", "test"):
            for lang in (spec.src, spec.tgt):
                shutil.copyfile(os.path.join(raw, f"{split}.{lang}"),
                                os.path.join(scratch, f"{split}.{lang}"))
        _log(f"clean train: kept {kept} of {total} pairs (max {settings.max_len} words, "
             f"ratio <= {settings.max_ratio})")


def step_spm(out: str, spec: CorpusSpec, settings: PrepareSettings, workers: int) -> None:
    import sentencepiece as spm

    clean = os.path.join(out, "clean")
    with atomic_directory(os.path.join(out, "spm")) as scratch:
        _log(f"training joint sentencepiece BPE, vocabulary {settings.vocab_size}")
        started = time.time()
        spm.SentencePieceTrainer.train(
            input=[os.path.join(clean, f"train.{lang}") for lang in (spec.src, spec.tgt)],
            model_prefix=os.path.join(scratch, "spm"),
            vocab_size=settings.vocab_size,
            model_type="bpe",
            character_coverage=1.0,
            input_sentence_size=settings.spm_sentences,
            shuffle_input_sentence=True,
            num_threads=max(1, workers),
            minloglevel=2,
        )
        _log(f"sentencepiece trained in {time.time() - started:.0f}s")


def step_bpe(out: str, spec: CorpusSpec, workers: int, batch: int = 20000) -> None:
    import sentencepiece as spm

    model = spm.SentencePieceProcessor(model_file=os.path.join(out, "spm", "spm.model"))
    clean = os.path.join(out, "clean")
    with atomic_directory(os.path.join(out, "bpe")) as scratch:
        for split in SPLITS:
            for lang in (spec.src, spec.tgt):
                done = 0
                with open(os.path.join(scratch, f"{split}.{lang}"), "w", encoding="utf-8") as fout:
                    lines = []
                    for line in read_lines(os.path.join(clean, f"{split}.{lang}")):
                        lines.append(line)
                        if len(lines) == batch:
                            done += _encode(model, lines, fout, workers)
                            lines = []
                            if done % (batch * 25) == 0:
                                _log(f"bpe {split}.{lang}: {done} lines")
                    done += _encode(model, lines, fout, workers)
                _log(f"bpe {split}.{lang}: {done} lines")


def _encode(model, lines, fout, workers: int) -> int:
    if lines:
        for pieces in model.encode(lines, out_type=str, num_threads=max(1, workers)):
            fout.write(" ".join(pieces) + "\n")
    return len(lines)


def step_binarize(out: str, spec: CorpusSpec, workers: int) -> None:
    bpe = os.path.join(out, "bpe")
    with atomic_directory(os.path.join(out, "data-bin")) as scratch:
        command = [
            sys.executable, "-m", "fairseq_cli.preprocess",
            "--source-lang", spec.src, "--target-lang", spec.tgt,
            "--trainpref", os.path.join(bpe, "train"),
            "--validpref", os.path.join(bpe, "valid"),
            "--testpref", os.path.join(bpe, "test"),
            "--destdir", scratch, "--joined-dictionary", "--workers", str(max(1, workers)),
        ]
        _log("binarizing with fairseq-preprocess --joined-dictionary")
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            tail = "\n".join(result.stdout.strip().splitlines()[-5:])
            raise HgkdError(f"fairseq-preprocess failed (exit {result.returncode}): {tail}")
        shutil.copyfile(os.path.join(out, "spm", "spm.model"), os.path.join(scratch, "spm.model"))
        write_json(os.path.join(scratch, DATA_INFO), {
            "dataset": spec.name,
            "source_lang": spec.src,
            "target_lang": spec.tgt,
            "spm_model": "spm.model",
            "raw_dir": os.path.abspath(os.path.join(out, "raw")),
        })


def prepare(spec: CorpusSpec, out: str, settings: PrepareSettings, source: Optional[str] = None,
            workers: int = 1, force: bool = False) -> str:
    """Run every unfinished step; returns OUT/data-bin."""
    os.makedirs(out, exist_ok=True)
    record = _settings_record(spec, settings, source)
    _check_settings(out, record, force)
    remove_stale_partials(out)
    if force:
        # read and check the new corpus before anything finished is removed: bad input must
        # leave the previous output as it was
        _log("step 1/5 raw (--force: replacing earlier output once the new corpus is checked)")
        step_raw(out, spec, source, replace=True)
        for step in STEPS[1:]:
            shutil.rmtree(os.path.join(out, step), ignore_errors=True)
    write_json(os.path.join(out, "prepare.json"), record)

    actions = {
        "raw": lambda: step_raw(out, spec, source),
        "clean": lambda: step_clean(out, spec, settings),
        "spm": lambda: step_spm(out, spec, settings, workers),
        "bpe": lambda: step_bpe(out, spec, workers),
        "data-bin": lambda: step_binarize(out, spec, workers),
    }
    for number, step in enumerate(STEPS, start=1):
        if os.path.isdir(os.path.join(out, step)):
            _log(f"step {number}/{len(STEPS)} {step}: done already, skipped")
            continue
        _log(f"step {number}/{len(STEPS)} {step}")
        actions[step]()
    data_bin = os.path.join(out, "data-bin")
    _log(f"ready: {data_bin}")
    return data_bin
