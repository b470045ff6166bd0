"""The Multi30K recipe end to end at PRESET=smoke: every system in the report, reruns skip
finished steps, and a killed step is redone cleanly."""
import json
import math
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import REPO, multi30k_dir, run

RECIPE = os.path.join(REPO, "recipes", "multi30k_de_en.sh")
ALL_SYSTEMS = {"teacher", "base", "ls", "word_kd", "seq_kd", "hgkd_token", "hgkd_sentence"}


def _env(workdir, **extra):
    return {"PRESET": "smoke", "WORKDIR": str(workdir), "MULTI30K_DIR": multi30k_dir(), **extra}


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("recipe") / "multi30k"
    result = run(["bash", RECIPE], env=_env(workdir), timeout=1500)
    return workdir, result


def _mtimes(workdir):
    found = {}
    for root, _dirs, files in os.walk(workdir):
        for name in files:
            if name.endswith(".pt") or name in ("report.json", "DONE.json") or name.startswith("generate-"):
                path = os.path.join(root, name)
                found[path] = os.path.getmtime(path)
    return found


def test_report_has_every_system_with_all_metrics(smoke_run):
    workdir, result = smoke_run
    report = json.load(open(workdir / "report.json"))
    assert set(report["systems"]) == ALL_SYSTEMS
    for name, system in report["systems"].items():
        for key in ("bleu", "chrf", "nll", "ece", "mce"):
            assert isinstance(system[key], float) and math.isfinite(system[key]), (name, key)
        if name.startswith("hgkd"):
            assert 0.0 <= system["kd_frac"] <= 1.0
        else:
            assert system["kd_frac"] is None
    assert report["sacrebleu"]["bleu"].startswith("nrefs:1|case:mixed")
    table = open(workdir / "report.md").read()
    assert all(f"| {name} |" in table for name in ALL_SYSTEMS)
    for figure in ("reliability.png", "confidence.png"):
        with open(workdir / figure, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert "reliability diagram:" in result.stderr
    # seq-KD trained on the teacher's translations of every training sentence
    seq_kd_text = workdir / "seq_kd_data" / "data-bin" / "text" / "train.en"
    gold = workdir / "data" / "bpe" / "train.en"
    assert len(open(seq_kd_text).readlines()) == len(open(gold).readlines())
    temperature = json.load(open(workdir / "teacher" / "temperature.json"))["teacher"]
    assert temperature["nll"] <= temperature["nll_at_1"] + 1e-9


def test_rerun_skips_every_finished_step(smoke_run):
    workdir, _ = smoke_run
    before = _mtimes(workdir)
    started = time.time()
    result = run(["bash", RECIPE], env=_env(workdir))
    assert "prepare: done already" in result.stderr
    for name in ALL_SYSTEMS:
        assert f"train {name}: done already" in result.stderr
    assert "report on test: done already" in result.stderr
    assert _mtimes(workdir) == before  # nothing finished was rewritten
    assert time.time() - started < 120


def test_killed_step_reruns_cleanly(smoke_run, tmp_path):
    workdir, _ = smoke_run
    fresh = tmp_path / "killed"
    shutil.copytree(workdir / "data", fresh / "data")  # skip the preparation, already tested
    env = dict(os.environ, **_env(fresh, SYSTEMS="hgkd_token"))
    process = subprocess.Popen(["bash", RECIPE], env=env, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    for line in process.stderr:
        if line.startswith("[recipe] train hgkd_token"):
            time.sleep(4)  # inside fairseq-train
            os.killpg(process.pid, signal.SIGKILL)
            break
    process.wait()
    assert not (fresh / "hgkd_token" / "DONE.json").exists()
    result = run(["bash", RECIPE], env=_env(fresh, SYSTEMS="hgkd_token"))
    assert "train teacher: done already" in result.stderr
    report = json.load(open(fresh / "report.json"))
    assert set(report["systems"]) == {"teacher", "hgkd_token"}
    assert open(fresh / "hgkd_token" / "train.log").read().count("\n===== ") == 2  # killed + rerun
    leftovers = [os.path.join(r, n) for r, ds, fs in os.walk(fresh) for n in ds + fs if ".partial-" in n]
    assert leftovers == []


def test_bad_settings_are_refused_in_one_line(tmp_path):
    result = run(["bash", RECIPE], env=_env(tmp_path / "w", PRESET="huge"), check=False)
    assert result.returncode == 2 and "PRESET must be paper, cpu or smoke" in result.stderr
    result = run(["bash", RECIPE], env=_env(tmp_path / "w", SYSTEMS="base bogus"), check=False)
    assert result.returncode == 2
    assert "hgkd-recipe: error: unknown system(s) ['bogus']" in result.stderr
