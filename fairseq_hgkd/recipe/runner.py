"""The recipe's steps. Each step is skipped when its result exists, is redone when named in
--redo, and writes its result atomically (or, for training, lets fairseq resume from
checkpoint_last.pt), so a killed recipe is resumed by running the same command again.

WORKDIR/data/                 hgkd-prepare output (data-bin, spm model, raw text)
WORKDIR/teacher/              teacher checkpoints, train.log, DONE.json, temperature.json
WORKDIR/seq_kd_data/          the teacher's translations of the training source, binarized
WORKDIR/<student>/            each student: checkpoints, train.log, DONE.json,
                              generate-<subset>.txt
WORKDIR/report.json|md|png    the evaluation report of every system on the first eval subset
WORKDIR/report-<subset>/      the same for further eval subsets
"""
import json
import os
import shutil
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import List, Optional

from fairseq_hgkd.atomic_io import remove_stale_partials, write_json
from fairseq_hgkd.errors import HgkdError
from fairseq_hgkd.recipe.process import epoch_summary, run_logged, say
from fairseq_hgkd.recipe.systems import STUDENTS, TEACHER, System

REPORT_STEP = "report"


@dataclass
class RecipeConfig:
    dataset: str
    workdir: str
    model_args: List[str]
    train_args: List[str]
    teacher_model_args: List[str] = field(default_factory=list)
    teacher_train_args: List[str] = field(default_factory=list)
    prepare_args: List[str] = field(default_factory=list)
    source: Optional[str] = None
    gen_args: List[str] = field(default_factory=lambda: ["--beam", "5"])
    seq_kd_gen_args: List[str] = field(default_factory=lambda: ["--beam", "5"])
    students: List[str] = field(default_factory=list)
    average_last: int = 1
    teacher_temperature: str = "fit"
    eval_subsets: List[str] = field(default_factory=lambda: ["test"])
    gpus: int = 0
    precision: str = "fp32"
    launcher: List[str] = field(default_factory=list)
    nnodes: int = 1
    node_rank: int = 0
    redo: List[str] = field(default_factory=list)
    seed: int = 1
    max_tokens_eval: int = 4000
    label: str = ""
    workers: int = 2
    parallel: int = 1  # CPU: students trained (and test sets decoded) this many at once


def _bin(name: str) -> str:
    """A console script of the running environment (the recipe may run outside an activated venv)."""
    local = os.path.join(os.path.dirname(sys.executable), name)
    return local if os.path.exists(local) else name


def user_dir() -> str:
    import fairseq_hgkd

    return os.path.dirname(os.path.abspath(fairseq_hgkd.__file__))


class Recipe:
    def __init__(self, cfg: RecipeConfig):
        self.cfg = cfg
        self.workdir = os.path.abspath(cfg.workdir)
        unknown = [s for s in cfg.students if s not in STUDENTS]
        if unknown:
            raise HgkdError(f"unknown system(s) {unknown}; choose from {sorted(STUDENTS)}")
        if cfg.precision not in ("fp32", "fp16", "bf16"):
            raise HgkdError(f"PRECISION must be fp32, fp16 or bf16, got {cfg.precision!r}")
        if cfg.precision != "fp32" and cfg.gpus == 0:
            raise HgkdError(f"PRECISION={cfg.precision} needs GPUs (GPUS>=1)")
        if cfg.average_last < 1:
            raise HgkdError(f"AVERAGE_LAST must be >= 1, got {cfg.average_last}")
        if cfg.parallel < 1 or (cfg.parallel > 1 and cfg.gpus > 0):
            raise HgkdError(f"PARALLEL must be >= 1, and 1 with GPUs (got {cfg.parallel}); "
                            "on GPUs use GPUS=N for data-parallel training")
        valid_steps = {"all", "prepare", "teacher", "temperature", "seq_kd_data", "generate",
                       REPORT_STEP} | set(STUDENTS)
        bad = [r for r in cfg.redo if r not in valid_steps]
        if bad:
            raise HgkdError(f"--redo: unknown step(s) {bad}; choose from {sorted(valid_steps)}")
        self.main_node = cfg.node_rank == 0

    # ---- helpers -------------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return os.path.join(self.workdir, *parts)

    def redo(self, step: str) -> bool:
        return "all" in self.cfg.redo or step in self.cfg.redo

    @property
    def data_bin(self) -> str:
        return self.path("data", "data-bin")

    def _wait_for(self, path: str, what: str) -> None:
        """Nodes other than the first wait for results only the first node produces."""
        while not os.path.exists(path):
            say(f"node {self.cfg.node_rank} waits for {what} ({path})")
            time.sleep(30)

    def _job_env(self) -> Optional[dict]:
        """With several CPU jobs at once, each gets its share of the cores."""
        if self.cfg.parallel <= 1:
            return None
        threads = str(max(1, (os.cpu_count() or 1) // self.cfg.parallel))
        return {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}

    def _concurrently(self, calls) -> list:
        """Run zero-argument callables, `parallel` at a time; the first failure is raised."""
        if self.cfg.parallel <= 1 or len(calls) <= 1:
            return [call() for call in calls]
        with ThreadPoolExecutor(max_workers=self.cfg.parallel) as pool:
            futures = [pool.submit(call) for call in calls]
            return [future.result() for future in futures]

    def _device_args(self) -> List[str]:
        cfg = self.cfg
        args = []
        if cfg.gpus == 0:
            args.append("--cpu")
        elif cfg.nnodes == 1 and not cfg.launcher and cfg.gpus > 1:
            args += ["--distributed-world-size", str(cfg.gpus)]
        if cfg.precision == "fp16":
            args.append("--fp16")
        elif cfg.precision == "bf16":
            args.append("--bf16")
        return args

    def _train_launcher(self) -> List[str]:
        cfg = self.cfg
        if cfg.launcher:
            return list(cfg.launcher)
        if cfg.nnodes > 1:
            master = os.environ.get("MASTER_ADDR")
            if not master:
                raise HgkdError("NNODES>1 needs MASTER_ADDR (the first node's address) and "
                                "NODE_RANK on every node")
            return [_bin("torchrun"), "--nnodes", str(cfg.nnodes), "--node_rank", str(cfg.node_rank),
                    "--nproc_per_node", str(max(1, cfg.gpus)), "--master_addr", master,
                    "--master_port", os.environ.get("MASTER_PORT", "29500")]
        return []

    # ---- steps ---------------------------------------------------------------------------------
    def prepare(self) -> None:
        if os.path.isdir(self.data_bin) and not self.redo("prepare"):
            say("prepare: done already")
            return
        if not self.main_node:
            return self._wait_for(self.data_bin, "the prepared data")
        from fairseq_hgkd.cli.prepare_data import main as prepare_main

        argv = [self.cfg.dataset, "--out", self.path("data"), "--workers", str(self.cfg.workers)]
        argv += (["--from", self.cfg.source] if self.cfg.source else []) + self.cfg.prepare_args
        argv += ["--force"] if self.redo("prepare") else []
        say("prepare: hgkd-prepare " + " ".join(argv))
        if prepare_main(argv) != 0:
            raise HgkdError("data preparation failed (see the hgkd-prepare error above)")

    def train(self, system: System, data_bin: str, teacher: Optional[str] = None,
              temperature: Optional[float] = None, env: Optional[dict] = None) -> str:
        save_dir = self.path(system.name)
        done = os.path.join(save_dir, "DONE.json")
        if os.path.isfile(done) and not self.redo(system.name):
            say(f"train {system.name}: done already")
            return save_dir
        if self.redo(system.name) and os.path.isdir(save_dir) and self.main_node:
            shutil.rmtree(save_dir)
        model_args = self.cfg.teacher_model_args if system is TEACHER else self.cfg.model_args
        train_args = self.cfg.teacher_train_args if system is TEACHER else self.cfg.train_args
        command = self._train_launcher() + [
            _bin("fairseq-train"), data_bin, "--user-dir", user_dir(),
            "--task", "translation_with_teacher", "--save-dir", save_dir,
            "--seed", str(self.cfg.seed), "--log-format", "json", "--log-interval", "100",
            "--no-progress-bar", "--best-checkpoint-metric", system.best_metric,
        ] + model_args + train_args + system.criterion_args + self._device_args()
        if self.cfg.average_last > 1:
            command += ["--keep-last-epochs", str(self.cfg.average_last)]
        else:
            command += ["--no-epoch-checkpoints"]
        if system.uses_teacher:
            command += ["--teacher-path", teacher, "--teacher-temperature", f"{temperature:.6g}"]
        resumed = os.path.isfile(os.path.join(save_dir, "checkpoint_last.pt"))
        say(f"train {system.name}: {system.description}" + (" (resuming)" if resumed else ""))
        started = time.time()
        run_logged(command, os.path.join(save_dir, "train.log"), f"train {system.name}", epoch_summary,
                   env=env)
        if self.main_node:
            write_json(done, {"system": system.name, "command": command,
                              "seconds": round(time.time() - started, 1),
                              "host": socket.gethostname()})
        return save_dir

    def eval_checkpoint(self, save_dir: str) -> str:
        """checkpoint_best.pt (lowest validation NLL), or the average of the last N epochs."""
        from fairseq_hgkd.checkpoint_average import average_checkpoints, last_epoch_checkpoints

        n = self.cfg.average_last
        if n <= 1:
            return os.path.join(save_dir, "checkpoint_best.pt")
        output = os.path.join(save_dir, f"checkpoint_avg{n}.pt")
        if not os.path.isfile(output):
            if not self.main_node:
                self._wait_for(output, "the averaged checkpoint")
                return output
            say(f"average: last {n} epochs of {os.path.basename(save_dir)}")
            average_checkpoints(last_epoch_checkpoints(save_dir, n), output)
        return output

    def teacher_temperature(self, teacher_checkpoint: str) -> float:
        value = self.cfg.teacher_temperature
        if value != "fit":
            try:
                temperature = float(value)
            except ValueError:
                raise HgkdError(f"TEACHER_TEMPERATURE must be 'fit' or a number, got {value!r}") from None
            if not temperature > 0:
                raise HgkdError(f"TEACHER_TEMPERATURE must be > 0, got {value}")
            return temperature
        path = self.path("teacher", "temperature.json")
        if self.redo("temperature") and self.main_node and os.path.isfile(path):
            os.remove(path)
        if not os.path.isfile(path):
            if not self.main_node:
                self._wait_for(path, "the teacher's temperature")
            else:
                from fairseq_hgkd.evaluation import teacher_forced

                say("temperature: fitting the teacher's temperature on valid (minimum NLL)")
                loaded = teacher_forced.load_model(self.data_bin, teacher_checkpoint,
                                                   cpu=self.cfg.gpus == 0)
                fitted = teacher_forced.fit_temperature(loaded, "valid", self.cfg.max_tokens_eval)
                write_json(path, {"teacher": fitted})
        with open(path, encoding="utf-8") as handle:
            fitted = json.load(handle)["teacher"]
        say(f"temperature: teacher T = {fitted['temperature']:.4f} (valid NLL "
            f"{fitted['nll_at_1']:.4f} -> {fitted['nll']:.4f})")
        return float(fitted["temperature"])

    def generate(self, checkpoint: str, data_bin: str, subset: str, output: str, gen_args: List[str],
                 label: str) -> str:
        if os.path.isfile(output) and not self.redo("generate"):
            return output
        command = [_bin("fairseq-generate"), data_bin, "--user-dir", user_dir(), "--path", checkpoint,
                   "--gen-subset", subset, "--max-tokens", str(self.cfg.max_tokens_eval),
                   # fairseq drops a last batch that is not a multiple of this (issue #5036)
                   "--required-batch-size-multiple", "1",
                   "--seed", str(self.cfg.seed)] + gen_args
        if self.cfg.gpus == 0:
            command.append("--cpu")
        elif self.cfg.precision == "fp16":
            command.append("--fp16")
        say(f"generate {label} on {subset}: {' '.join(gen_args)}")
        run_logged(command, output + ".log", f"generate {label} {subset}", stdout_path=output,
                   env=self._job_env())
        return output

    def seq_kd_data(self, teacher_checkpoint: str) -> str:
        from fairseq_hgkd.recipe.seq_kd import build_seq_kd_data_bin

        final = self.path("seq_kd_data", "data-bin")
        if self.redo("seq_kd_data") and self.main_node:
            shutil.rmtree(self.path("seq_kd_data"), ignore_errors=True)
        if os.path.isdir(final):
            return final
        if not self.main_node:
            self._wait_for(final, "the sequence-level KD data")
            return final
        info = self._data_info()
        translations = self.generate(
            teacher_checkpoint, self.data_bin, "train", self.path("seq_kd_data", "generate-train.txt"),
            self.cfg.seq_kd_gen_args, "teacher (seq-KD training data)")
        say("seq_kd_data: binarizing the teacher's translations with the data's dictionaries")
        return build_seq_kd_data_bin(self.path("data"), translations, self.path("seq_kd_data"),
                                     info["source_lang"], info["target_lang"], self.cfg.workers)

    def _data_info(self) -> dict:
        with open(os.path.join(self.data_bin, "hgkd_data.json"), encoding="utf-8") as handle:
            return json.load(handle)

    def report(self, eval_checkpoints: dict) -> Optional[dict]:
        from fairseq_hgkd.evaluation import report as reporting

        written = {}
        for index, subset in enumerate(self.cfg.eval_subsets):
            out_dir = self.workdir if index == 0 else self.path(f"report-{subset}")
            report_json = os.path.join(out_dir, "report.json")
            if os.path.isfile(report_json) and not self.redo(REPORT_STEP):
                say(f"report on {subset}: done already ({report_json})")
                written[subset] = report_json
                continue
            systems = [
                reporting.SystemSpec(name, ckpt, self.path(name, f"generate-{subset}.txt"),
                                     self.path(name, "train.log"))
                for name, ckpt in eval_checkpoints.items()
            ]
            result = reporting.evaluate_systems(self.data_bin, systems, subset,
                                                max_tokens=self.cfg.max_tokens_eval,
                                                cpu=self.cfg.gpus == 0)
            result["recipe"] = {k: v for k, v in asdict(self.cfg).items() if k not in ("redo",)}
            paths = reporting.write(result, out_dir)
            written[subset] = paths["json"]
            say(f"report on {subset}: {paths['md']}")
            if "reliability" in paths:
                say(f"reliability diagram: {paths['reliability']}")
        return written

    # ---- the whole grid --------------------------------------------------------------------------
    def run(self) -> dict:
        os.makedirs(self.workdir, exist_ok=True)
        remove_stale_partials(self.workdir)
        self.prepare()
        teacher_dir = self.train(TEACHER, self.data_bin)
        teacher_ckpt = self.eval_checkpoint(teacher_dir)
        students = [STUDENTS[name] for name in self.cfg.students]
        temperature = None
        if any(s.uses_teacher for s in students):
            temperature = self.teacher_temperature(teacher_ckpt)

        def train_student(student):
            # the teacher's decoding of the training source is part of the seq-KD student's job,
            # so that with PARALLEL > 1 it overlaps the other students' training
            data = self.seq_kd_data(teacher_ckpt) if student.seq_kd_data else self.data_bin
            return self.eval_checkpoint(
                self.train(student, data, teacher_ckpt, temperature, env=self._job_env()))

        longest_first = sorted(students, key=lambda s: not s.seq_kd_data)
        trained = dict(zip([s.name for s in longest_first], self._concurrently(
            [lambda s=s: train_student(s) for s in longest_first])))
        checkpoints = {"teacher": teacher_ckpt, **{s.name: trained[s.name] for s in students}}
        if not self.main_node:
            say(f"node {self.cfg.node_rank}: training finished; node 0 generates and reports")
            return {}
        self._concurrently([
            (lambda name=name, ckpt=ckpt, subset=subset: self.generate(
                ckpt, self.data_bin, subset, self.path(name, f"generate-{subset}.txt"),
                self.cfg.gen_args, name))
            for name, ckpt in checkpoints.items() for subset in self.cfg.eval_subsets])
        return self.report(checkpoints)
