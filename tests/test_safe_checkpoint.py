"""Checkpoint loading under torch's weights-only unpickler, with the plugin's allow-list."""
import datetime
import os
import re
import shutil

import pytest
import torch

import fairseq_hgkd  # noqa: F401  (installs the allow-list)
from conftest import REPO, cli, rewrite_checkpoint, run
from fairseq_hgkd.safe_checkpoint import (
    TRUST_ENV,
    CheckpointReadError,
    UnsafeCheckpointError,
    load_checkpoint,
)

PLAIN_LOAD = "import torch, sys; torch.load(sys.argv[1], map_location='cpu'); print('loaded')"
PLUGIN_LOAD = "import fairseq_hgkd, torch, sys; torch.load(sys.argv[1], map_location='cpu', weights_only=True); print('loaded')"


def _real_checkpoints(teacher_checkpoint, students):
    paths = [teacher_checkpoint["path"]]
    paths += [os.path.join(s["dir"], "checkpoint_last.pt") for s in students.values()]
    return paths


def test_real_checkpoints_name_only_allow_listed_globals(teacher_checkpoint, students):
    for path in _real_checkpoints(teacher_checkpoint, students):
        assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == [], path
        state = torch.load(path, map_location="cpu", weights_only=True)
        assert "model" in state and "cfg" in state


def test_plain_torch_refuses_them_and_importing_the_plugin_is_enough(teacher_checkpoint):
    path = teacher_checkpoint["path"]
    refused = run([cli("python"), "-c", PLAIN_LOAD, path], check=False)
    assert refused.returncode != 0 and "Weights only load failed" in refused.stderr
    env = {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": ""}
    assert "loaded" in run([cli("python"), "-c", PLUGIN_LOAD, path], env=env).stdout


def test_multi_gpu_resume_broadcast_uses_the_safe_loader(teacher_checkpoint, tmp_path):
    script = os.path.join(REPO, "tests", "broadcast_worker.py")
    result = run([cli("python"), script, teacher_checkpoint["path"], str(tmp_path / "init")])
    sent = re.search(r"RANK0 checksum=([0-9.]+)", result.stdout).group(1)
    received = re.search(r"RANK1 cfg=(\w+) params=(\d+) checksum=([0-9.]+)", result.stdout)
    assert received, result.stdout + result.stderr
    assert received.group(1) == "DictConfig" and received.group(3) == sent


def test_broadcast_refuses_a_foreign_global_unless_trusted(teacher_checkpoint, tmp_path):
    script = os.path.join(REPO, "tests", "broadcast_worker.py")
    result = run([cli("python"), script, teacher_checkpoint["path"], str(tmp_path / "a"), "extra"],
                 check=False, timeout=120)
    assert "RANK1 UnsafeCheckpointError" in result.stdout and "datetime.date" in result.stdout
    trusted = run([cli("python"), script, teacher_checkpoint["path"], str(tmp_path / "b"), "extra"],
                  env={TRUST_ENV: "1"})
    assert "when=2020-01-01" in trusted.stdout


def test_foreign_global_is_refused_in_one_line_and_trust_opt_in_loads_it(teacher_checkpoint, tmp_path, monkeypatch):
    path = rewrite_checkpoint(teacher_checkpoint["path"], str(tmp_path / "dated.pt"),
                              lambda s: s["extra_state"].update(when=datetime.date(2020, 1, 1)))
    monkeypatch.delenv(TRUST_ENV, raising=False)
    with pytest.raises(UnsafeCheckpointError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert "\n" not in message and "datetime.date" in message and f"{TRUST_ENV}=1" in message
    monkeypatch.setenv(TRUST_ENV, "1")
    assert load_checkpoint(path)["extra_state"]["when"] == datetime.date(2020, 1, 1)
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ  # the opt-in does not leak


@pytest.mark.parametrize("damage", ["truncated", "text", "missing", "empty"])
def test_unreadable_files_get_one_line(teacher_checkpoint, tmp_path, damage):
    path = str(tmp_path / "broken.pt")
    if damage == "truncated":
        with open(teacher_checkpoint["path"], "rb") as src, open(path, "wb") as out:
            out.write(src.read()[: os.path.getsize(teacher_checkpoint["path"]) // 2])
    elif damage == "text":
        with open(path, "w") as out:
            out.write("this is not a checkpoint\n")
    elif damage == "empty":
        open(path, "wb").close()
    with pytest.raises(CheckpointReadError) as error:
        load_checkpoint(path)
    assert "\n" not in str(error.value) and "broken.pt" in str(error.value)
