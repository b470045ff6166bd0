"""Running fairseq commands from a recipe: full output to a log file, short progress on stderr."""
import datetime
import json
import os
import shlex
import subprocess
import sys
from typing import Callable, List, Optional

from fairseq_hgkd.atomic_io import atomic_file
from fairseq_hgkd.errors import HgkdError


class StepError(HgkdError):
    """A recipe step's command failed; its log says why, and a rerun resumes."""


def say(message: str) -> None:
    # one write per line: with PARALLEL > 1 several jobs report at once
    sys.stderr.write(f"[recipe] {message}\n")
    sys.stderr.flush()


def _failure(label: str, returncode: int, log_path: str) -> StepError:
    lines = []
    if os.path.isfile(log_path):
        with open(log_path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    ours = [line for line in lines if line.startswith("fairseq-hgkd: error:")]
    if ours:
        return StepError(f"{label}: {ours[-1][len('fairseq-hgkd: error: '):]} (log: {log_path})")
    tail = "\n".join(lines[-15:])
    print(tail, file=sys.stderr)
    return StepError(f"{label} failed (exit {returncode}); the end of its log {log_path} is shown "
                     "above; fix the cause and rerun the same command to resume")


def run_logged(command: List[str], log_path: str, label: str,
               progress: Optional[Callable[[str], Optional[str]]] = None,
               stdout_path: Optional[str] = None, env: Optional[dict] = None) -> None:
    """Run `command`, appending its output to `log_path`.

    With `stdout_path`, standard output goes (atomically) to that file and only standard error to
    the log. `progress(line)` may return a short summary to print for a line; `env` adds variables.
    """
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    with open(log_path, "a", encoding="utf-8") as log:
        stamp = datetime.datetime.now().isoformat(timespec="seconds")
        log.write(f"\n===== {stamp} {shlex.join(command)}\n")
        log.flush()
        if stdout_path is None:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True, bufsize=1, env=env)
            for line in process.stdout:
                log.write(line)
                summary = progress(line) if progress else None
                if summary:
                    say(f"{label}: {summary}")
            returncode = process.wait()
        else:
            with atomic_file(stdout_path, encoding="utf-8") as out:
                returncode = subprocess.run(command, stdout=out, stderr=log, env=env).returncode
                if returncode != 0:
                    raise _failure(label, returncode, log_path)
    if returncode != 0:
        raise _failure(label, returncode, log_path)


def epoch_summary(line: str) -> Optional[str]:
    """A one-line summary of fairseq's end-of-epoch validation record (--log-format json)."""
    start = line.find("{")
    if start < 0 or '"valid_loss"' not in line:
        return None
    try:
        record = json.loads(line[start:])
    except ValueError:
        return None
    parts = [f"epoch {record.get('epoch')}", f"update {record.get('valid_num_updates')}"]
    for key, label in (("valid_nll_loss", "valid nll"), ("valid_loss", "valid loss"),
                       ("valid_ece", "ece"), ("valid_kd_frac", "kd_frac")):
        if key in record and not (key == "valid_loss" and "valid_nll_loss" in record):
            parts.append(f"{label} {record[key]}")
    return ", ".join(parts)
