"""Shared fixtures: a small Multi30K data-bin, a tiny teacher, and helpers to run the real CLIs."""
import json
import os
import shutil
import subprocess
import sys

import pytest

BIN = os.path.dirname(sys.executable)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER_DIR = os.path.join(REPO, "fairseq_hgkd")

TINY_MODEL = [
    "--arch", "transformer", "--share-all-embeddings",
    "--encoder-layers", "1", "--decoder-layers", "1",
    "--encoder-embed-dim", "32", "--decoder-embed-dim", "32",
    "--encoder-ffn-embed-dim", "64", "--decoder-ffn-embed-dim", "64",
    "--encoder-attention-heads", "2", "--decoder-attention-heads", "2",
]
TRAIN_COMMON = [
    "--cpu", "--seed", "1", "--optimizer", "adam", "--lr", "2e-3", "--max-tokens", "2000",
    "--log-format", "json", "--log-interval", "5", "--no-epoch-checkpoints",
    "--num-workers", "0", "--no-progress-bar",
]


def multi30k_dir():
    path = os.environ.get("MULTI30K_DIR")
    if path and os.path.isdir(path):
        return os.path.abspath(path)
    message = "MULTI30K_DIR is not set to the Multi30K raw files (see README.md)"
    if os.environ.get("HGKD_REQUIRE_DATA"):
        pytest.fail(message)
    pytest.skip(message)


def run(command, check=True, env=None, timeout=600, cwd=None):
    """Run a command; on unexpected failure show its output in the assertion message."""
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=full_env, timeout=timeout, cwd=cwd)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, command))} exited {result.returncode}\n"
            f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-6000:]}"
        )
    return result


def cli(name):
    return os.path.join(BIN, name)


def fairseq_train(data_bin, save_dir, *extra, check=True, env=None, model=TINY_MODEL):
    command = [cli("fairseq-train"), data_bin, "--user-dir", USER_DIR, "--save-dir", save_dir,
               *TRAIN_COMMON, *model, *extra]
    return run(command, check=check, env=env)


def json_logs(output):
    """fairseq's --log-format json lines as dicts, values converted to numbers where possible."""
    records = []
    for line in output.splitlines():
        start = line.find("{")
        if start < 0 or '"epoch"' not in line:
            continue
        try:
            record = json.loads(line[start:])
        except ValueError:
            continue
        records.append({k: _number(v) for k, v in record.items()})
    return records


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def last_with(records, key):
    matching = [r for r in records if key in r]
    assert matching, f"no log record has {key!r}"
    return matching[-1]


def one_line_error(stderr):
    lines = [line for line in stderr.splitlines() if line.startswith("fairseq-hgkd: error:")]
    assert len(lines) == 1, f"expected one fairseq-hgkd error line, got:\n{stderr[-3000:]}"
    return lines[0]


@pytest.fixture(scope="session")
def data_bin(tmp_path_factory):
    """3,000 Multi30K training pairs, full valid/test, joint BPE of 1,000 pieces."""
    source = multi30k_dir()
    out = tmp_path_factory.mktemp("multi30k_small")
    run([cli("hgkd-prepare"), "multi30k_de_en", "--out", str(out), "--from", source,
         "--vocab-size", "1000", "--train-limit", "3000", "--workers", "2"])
    return str(out / "data-bin")


@pytest.fixture(scope="session")
def teacher_checkpoint(data_bin, tmp_path_factory):
    """A tiny teacher trained with translation_with_teacher (no teacher) and --eval-bleu."""
    save = str(tmp_path_factory.mktemp("teacher"))
    result = fairseq_train(
        data_bin, save, "--task", "translation_with_teacher", "--max-update", "60",
        "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1",
        "--eval-bleu", "--eval-bleu-remove-bpe", "sentencepiece", "--eval-bleu-args", '{"beam": 1}',
        "--max-valid-steps", "3",
    )
    path = os.path.join(save, "checkpoint_last.pt")
    assert os.path.isfile(path)
    return {"path": path, "logs": json_logs(result.stdout + result.stderr)}


CRITERIA = {
    "hgkd_token": ["--criterion", "hgkd_token"],
    "hgkd_sentence": ["--criterion", "hgkd_sentence", "--gate-on", "prediction", "--label-smoothing", "0.1"],
    "word_kd": ["--criterion", "word_kd", "--kd-alpha", "0.5", "--kd-temperature", "2"],
}


@pytest.fixture(scope="session")
def students(data_bin, teacher_checkpoint, tmp_path_factory):
    trained = {}
    for name, args in CRITERIA.items():
        save = str(tmp_path_factory.mktemp(name))
        result = fairseq_train(
            data_bin, save, "--task", "translation_with_teacher",
            "--teacher-path", teacher_checkpoint["path"], "--max-update", "20",
            "--max-valid-steps", "3", *args,
        )
        trained[name] = {"dir": save, "logs": json_logs(result.stdout + result.stderr)}
    return trained


@pytest.fixture
def teacher_copy(teacher_checkpoint, tmp_path):
    path = str(tmp_path / "teacher.pt")
    shutil.copyfile(teacher_checkpoint["path"], path)
    return path


def rewrite_checkpoint(src, dst, mutate):
    """Load a checkpoint we wrote ourselves, change it, save it elsewhere (test fixtures only)."""
    import torch

    state = torch.load(src, map_location="cpu", weights_only=False)
    mutate(state)
    torch.save(state, dst)
    return dst


class RunsCode:
    """Pickles as os.system(...): loading it with the full unpickler would run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def build_task(data_bin, *extra, model=TINY_MODEL):
    """A fairseq task and config parsed from command-line style arguments, in this process."""
    import fairseq_hgkd  # noqa: F401
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    parser = options.get_training_parser()
    args = options.parse_args_and_arch(
        parser, [data_bin, "--user-dir", USER_DIR, "--task", "translation_with_teacher",
                 *TRAIN_COMMON, *model, *extra])
    cfg = convert_namespace_to_omegaconf(args)
    return tasks.setup_task(cfg.task), cfg


def first_batch(task, split="valid", max_tokens=1500):
    task.load_dataset(split)
    iterator = task.get_batch_iterator(task.dataset(split), max_tokens=max_tokens, seed=1)
    return next(iter(iterator.next_epoch_itr(shuffle=False)))
