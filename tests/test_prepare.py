"""Data preparation: every corpus format, idempotent reruns, interrupted steps and bad input."""
import gzip
import io
import json
import os
import signal
import subprocess
import tarfile
import time
import urllib.error

import pytest

from conftest import cli, multi30k_dir, run

PREPARE = "hgkd-prepare"


def _multi30k_pairs(n, offset=0):
    from fairseq_hgkd.prepare.parallel_text import read_lines

    source = multi30k_dir()
    de = list(read_lines(os.path.join(source, "train.de.gz")))[offset:offset + n]
    en = list(read_lines(os.path.join(source, "train.en.gz")))[offset:offset + n]
    return de, en


def _write(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in lines))


def _local_corpus(directory, n_train=400):
    de, en = _multi30k_pairs(n_train + 100)
    for split, (a, b) in {"train": (0, n_train), "valid": (n_train, n_train + 50),
                          "test": (n_train + 50, n_train + 100)}.items():
        _write(os.path.join(directory, f"{split}.de"), de[a:b])
        _write(os.path.join(directory, f"{split}.en"), en[a:b])
    return directory


def _prepare(*args, check=True):
    return run([cli(PREPARE), *args, "--workers", "1"], check=check)


def _lines(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


def test_local_corpus_prepares_a_data_bin(tmp_path):
    corpus = _local_corpus(str(tmp_path / "corpus"))
    out = str(tmp_path / "out")
    result = _prepare("local", "--src", "de", "--tgt", "en", "--from", corpus, "--out", out,
                      "--vocab-size", "300")
    assert result.stdout.strip() == os.path.join(out, "data-bin")
    for name in ("dict.de.txt", "dict.en.txt", "spm.model", "train.de-en.de.bin", "test.de-en.en.idx"):
        assert os.path.isfile(os.path.join(out, "data-bin", name)), name
    info = json.load(open(os.path.join(out, "data-bin", "hgkd_data.json")))
    assert (info["source_lang"], info["target_lang"]) == ("de", "en")
    assert _lines(os.path.join(info["raw_dir"], "test.en")) == _lines(os.path.join(corpus, "test.en"))
    assert "[prepare] step 5/5 data-bin" in result.stderr  # progress output
    # a rerun trusts the finished steps and changes nothing
    before = {n: os.path.getmtime(os.path.join(out, "data-bin", n)) for n in os.listdir(os.path.join(out, "data-bin"))}
    again = _prepare("local", "--src", "de", "--tgt", "en", "--from", corpus, "--out", out,
                     "--vocab-size", "300")
    assert again.stderr.count("done already, skipped") == 5
    assert before == {n: os.path.getmtime(os.path.join(out, "data-bin", n)) for n in before}


def test_other_settings_on_a_finished_output_are_refused(tmp_path):
    corpus = _local_corpus(str(tmp_path / "corpus"))
    out = str(tmp_path / "out")
    _prepare("local", "--src", "de", "--tgt", "en", "--from", corpus, "--out", out, "--vocab-size", "300")
    result = _prepare("local", "--src", "de", "--tgt", "en", "--from", corpus, "--out", out,
                      "--vocab-size", "400", check=False)
    assert result.returncode == 2
    assert "other settings" in result.stderr and "--force" in result.stderr


BAD_INPUTS = {
    "unequal": "train split is not line-aligned",
    "empty": "test split is empty",
    "latin1": "is not UTF-8",
    "missing": "missing valid split",
}


@pytest.mark.parametrize("damage", sorted(BAD_INPUTS))
def test_bad_input_is_refused_and_earlier_output_survives(tmp_path, damage):
    corpus = _local_corpus(str(tmp_path / "corpus"))
    out = str(tmp_path / "out")
    _prepare("local", "--src", "de", "--tgt", "en", "--from", corpus, "--out", out, "--vocab-size", "300")
    finished = os.path.getmtime(os.path.join(out, "data-bin", "train.de-en.de.bin"))
    if damage == "unequal":
        _write(os.path.join(corpus, "train.en"), _lines(os.path.join(corpus, "train.en"))[:-3])
    elif damage == "empty":
        _write(os.path.join(corpus, "test.de"), [])
        _write(os.path.join(corpus, "test.en"), [])
    elif damage == "latin1":
        with open(os.path.join(corpus, "train.de"), "ab") as handle:
            handle.write("Gr\u00fc\u00dfe\n".encode("latin-1"))
        with open(os.path.join(corpus, "train.en"), "a") as handle:
            handle.write("Greetings\n")
    elif damage == "missing":
        os.remove(os.path.join(corpus, "valid.en"))
    result = _prepare("local", "--src", "de", "--tgt", "en", "--from", corpus, "--out", out,
                      "--vocab-size", "300", "--force", check=False)
    assert result.returncode == 2
    errors = [l for l in result.stderr.splitlines() if l.startswith("hgkd-prepare: error:")]
    assert len(errors) == 1 and BAD_INPUTS[damage] in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    # --force replaces nothing until the new corpus passed its checks
    assert os.path.getmtime(os.path.join(out, "data-bin", "train.de-en.de.bin")) == finished
    assert not [n for n in os.listdir(out) if ".partial-" in n]


def test_non_utf8_error_names_the_line(tmp_path):
    corpus = _local_corpus(str(tmp_path / "corpus"), n_train=20)
    with open(os.path.join(corpus, "train.de"), "ab") as handle:
        handle.write(b"caf\xe9\n")
    with open(os.path.join(corpus, "train.en"), "a") as handle:
        handle.write("cafe\n")
    result = _prepare("local", "--src", "de", "--tgt", "en", "--from", corpus, "--out",
                      str(tmp_path / "out"), check=False)
    assert "train.de line 21 is not UTF-8 (byte 0xe9" in result.stderr


def test_killed_preparation_is_redone_cleanly(tmp_path):
    out = str(tmp_path / "out")
    command = [cli(PREPARE), "multi30k_de_en", "--from", multi30k_dir(), "--out", out,
               "--vocab-size", "300", "--workers", "1"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, start_new_session=True)
    for line in process.stderr:  # kill it inside the BPE step, after its first file
        if line.startswith("[prepare] bpe train.de:"):
            os.killpg(process.pid, signal.SIGKILL)
            break
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not os.path.isdir(os.path.join(out, "bpe")) and not os.path.isdir(os.path.join(out, "data-bin"))
    assert [n for n in os.listdir(out) if n.startswith(".bpe.partial-")]  # the killed step's scratch
    result = run(command)
    assert result.stderr.count("done already, skipped") == 3  # raw, clean, spm are trusted
    assert len(_lines(os.path.join(out, "bpe", "train.de"))) == len(_lines(os.path.join(out, "clean", "train.de")))
    assert not [n for n in os.listdir(out) if ".partial-" in n]  # the stale scratch is gone


def test_offline_without_local_data_says_where_to_put_the_files(tmp_path, monkeypatch, capsys):
    from fairseq_hgkd.cli import prepare_data

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.delenv("MULTI30K_DIR", raising=False)
    monkeypatch.setattr("urllib.request.urlopen", offline)
    assert prepare_data.main(["multi30k_de_en", "--out", str(tmp_path / "out")]) == 2
    errors = [l for l in capsys.readouterr().err.splitlines() if l.startswith("hgkd-prepare: error:")]
    assert len(errors) == 1
    assert "offline? put the Multi30K task-1 raw files" in errors[0] and "MULTI30K_DIR" in errors[0]
    assert not os.path.exists(tmp_path / "out" / "raw")


def test_multi30k_checksums_are_verified(tmp_path):
    source = tmp_path / "m30k"
    os.makedirs(source)
    real = multi30k_dir()
    for name in os.listdir(real):
        os.symlink(os.path.join(real, name), source / name)
    os.remove(source / "val.en.gz")
    with gzip.open(source / "val.en.gz", "wt") as handle:
        handle.write("tampered\n" * 1014)
    result = _prepare("multi30k_de_en", "--from", str(source), "--out", str(tmp_path / "out"), check=False)
    assert result.returncode == 2 and "val.en.gz has SHA-256" in result.stderr


# --- the public corpora's formats, rebuilt small from Multi30K text ------------------------------------
def _tar(path, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _xml(lines):
    body = "".join(f'<seg id="{i + 1}"> {line} </seg>\n' for i, line in enumerate(lines))
    return f"<mteval>\n<doc docid=\"x\">\n{body}</doc>\n</mteval>\n"


def test_iwslt14_follows_fairseqs_split(tmp_path):
    from fairseq_hgkd.prepare.corpora import IWSLT14_TEST_SETS

    de, en = _multi30k_pairs(700)
    tags = {"de": ["<url>http://x</url>", "<talkid>1</talkid>", "<keywords>k</keywords>",
                   "<title>Titel eins</title>"] + de[:460],
            "en": ["<url>http://x</url>", "<talkid>1</talkid>", "<keywords>k</keywords>",
                   "<title>Title one</title>"] + en[:460]}
    files = {f"de-en/train.tags.de-en.{l}": "\n".join(tags[l]) + "\n" for l in ("de", "en")}
    for k, name in enumerate(IWSLT14_TEST_SETS):
        lo = 460 + 40 * k
        files[f"de-en/{name}.de-en.de.xml"] = _xml(de[lo:lo + 40])
        files[f"de-en/{name}.de-en.en.xml"] = _xml(en[lo:lo + 40])
    archive = str(tmp_path / "de-en.tgz")
    _tar(archive, files)
    out = str(tmp_path / "out")
    _prepare("iwslt14_de_en", "--from", archive, "--out", out, "--vocab-size", "300")

    from fairseq_hgkd.prepare.corpora import _keep

    pairs = [(a, b) for a, b in zip(["Titel eins"] + de[:460], ["Title one"] + en[:460]) if _keep(a, b, 175, 1.5)]
    assert _lines(os.path.join(out, "raw", "valid.de")) == [p[0] for i, p in enumerate(pairs, 1) if i % 23 == 0]
    assert _lines(os.path.join(out, "raw", "train.en")) == [p[1] for i, p in enumerate(pairs, 1) if i % 23 != 0]
    assert _lines(os.path.join(out, "raw", "test.en")) == en[460:660]  # the five sets, in order
    assert os.path.isdir(os.path.join(out, "data-bin"))


def test_iwslt15_and_wmt14_from_local_files(tmp_path):
    de, en = _multi30k_pairs(600)
    iwslt = tmp_path / "iwslt15"
    for stem, (a, b) in {"train": (0, 400), "tst2012": (400, 450), "tst2013": (450, 500)}.items():
        _write(str(iwslt / f"{stem}.en"), en[a:b])
        _write(str(iwslt / f"{stem}.vi"), de[a:b])  # any text does for the format
    out = str(tmp_path / "out15")
    _prepare("iwslt15_en_vi", "--from", str(iwslt), "--out", out, "--vocab-size", "300")
    assert _lines(os.path.join(out, "raw", "test.vi")) == de[450:500]

    wmt = tmp_path / "wmt14"
    os.makedirs(wmt)
    corpora = {"europarl-v7.de-en": (0, 150), "commoncrawl.de-en": (150, 300), "news-commentary-v9.de-en": (300, 450)}
    _tar(str(wmt / "training-parallel.tgz"),
         {f"training/{c}.{l}": "\n".join((en if l == "en" else de)[a:b]) + "\n"
          for c, (a, b) in corpora.items() for l in ("en", "de")})
    _write(str(wmt / "dev" / "newstest2013.en"), en[450:500])
    _write(str(wmt / "dev" / "newstest2013.de"), de[450:500])
    _tar(str(wmt / "test-full.tgz"), {
        "test-full/newstest2014-deen-src.en.sgm": _xml(en[500:550]),
        "test-full/newstest2014-deen-ref.de.sgm": _xml(de[500:550]),
    })
    out = str(tmp_path / "out14")
    _prepare("wmt14_en_de", "--from", str(wmt), "--out", out, "--vocab-size", "300")
    assert _lines(os.path.join(out, "raw", "train.de")) == de[:450]
    assert _lines(os.path.join(out, "raw", "valid.en")) == en[450:500]
    assert _lines(os.path.join(out, "raw", "test.de")) == de[500:550]
