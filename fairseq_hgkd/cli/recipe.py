"""`hgkd-recipe`: run the paper's grid (teacher, baselines, HKD students, report) resumably.

The shell scripts in recipes/ hold each dataset's settings and presets and call this tool; it
can be called directly too. String options take a whole fairseq argument string (shell-quoted).
"""
import argparse
import os
import shlex
import sys

from fairseq_hgkd.cli import quiet_logging
from fairseq_hgkd.errors import one_line_errors


def _words(text: str):
    return shlex.split(text or "")


def _list(text: str):
    return [w for w in (text or "").replace(",", " ").split() if w]


def build_parser() -> argparse.ArgumentParser:
    from fairseq_hgkd.recipe.systems import DEFAULT_STUDENTS, STUDENTS

    p = argparse.ArgumentParser(prog="hgkd-recipe", description=__doc__)
    p.add_argument("--dataset", required=True, help="hgkd-prepare dataset name (or 'local')")
    p.add_argument("--workdir", required=True)
    p.add_argument("--from", dest="source", help="local copy of the corpus (see hgkd-prepare --from)")
    p.add_argument("--prepare-args", default="", help="extra hgkd-prepare options, e.g. '--vocab-size 8000'")
    p.add_argument("--model-args", required=True, help="fairseq model options of the students")
    p.add_argument("--train-args", required=True, help="fairseq optimization/budget options of the students")
    p.add_argument("--teacher-model-args", default=None, help="default: --model-args")
    p.add_argument("--teacher-train-args", default=None, help="default: --train-args")
    p.add_argument("--gen-args", default="--beam 5", help="fairseq-generate options for evaluation")
    p.add_argument("--seq-kd-gen-args", default="--beam 5", help="the teacher's decoding of the training source")
    p.add_argument("--systems", default=" ".join(DEFAULT_STUDENTS),
                   help=f"students to train, from: {' '.join(STUDENTS)}")
    p.add_argument("--average-last", type=int, default=1,
                   help="evaluate the average of the last N epoch checkpoints (1: checkpoint_best.pt, "
                   "chosen by validation NLL)")
    p.add_argument("--teacher-temperature", default="fit",
                   help="'fit' (minimum teacher NLL on valid) or a number")
    p.add_argument("--eval-subsets", default="test", help="subsets to generate and report on; the first "
                   "one goes to WORKDIR/report.json")
    p.add_argument("--gpus", type=int, default=0, help="GPUs per node (0: CPU)")
    p.add_argument("--parallel", type=int, default=1,
                   help="CPU only: train this many students at once (the seq-KD decoding is part "
                   "of the seq_kd student's job), each with its share of the cores")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
    p.add_argument("--nnodes", type=int, default=1)
    p.add_argument("--node-rank", type=int, default=0)
    p.add_argument("--launcher", default="", help="command prefix for fairseq-train, e.g. a torchrun line")
    p.add_argument("--redo", default="", help="steps to redo although finished: all, prepare, teacher, "
                   "temperature, seq_kd_data, a student's name, generate, report")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--label", default="", help="free text recorded in the report (e.g. the preset)")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    return p


@one_line_errors("hgkd-recipe")
def main(argv=None) -> int:
    from fairseq_hgkd.recipe.runner import Recipe, RecipeConfig

    args = build_parser().parse_args(argv)
    quiet_logging()
    cfg = RecipeConfig(
        dataset=args.dataset, workdir=args.workdir, source=args.source,
        prepare_args=_words(args.prepare_args), model_args=_words(args.model_args),
        train_args=_words(args.train_args),
        teacher_model_args=_words(args.teacher_model_args if args.teacher_model_args is not None else args.model_args),
        teacher_train_args=_words(args.teacher_train_args if args.teacher_train_args is not None else args.train_args),
        gen_args=_words(args.gen_args), seq_kd_gen_args=_words(args.seq_kd_gen_args),
        students=_list(args.systems), average_last=args.average_last,
        teacher_temperature=args.teacher_temperature, eval_subsets=_list(args.eval_subsets) or ["test"],
        gpus=args.gpus, precision=args.precision, launcher=_words(args.launcher), nnodes=args.nnodes,
        node_rank=args.node_rank, redo=_list(args.redo), seed=args.seed, label=args.label,
        workers=args.workers, parallel=args.parallel,
    )
    written = Recipe(cfg).run()
    for subset, path in (written or {}).items():
        print(f"{subset}\t{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
