"""What hard-gate KD buys on real data: the Multi30K DE->EN grid at the PRESET=cpu model size with
a budget long enough to converge, every system from the same teacher, budget and seed.

Runs the Multi30K recipe (hgkd-recipe) with both gate readings of HKD-T and HKD-S, then writes
bench/results/quality.json (the recipes' report.json format: one entry per system, with its valid
scores beside the test ones, and the training budget), quality.md, the reliability diagram of all
systems and a plot of kd_frac per epoch. Resumable like every recipe: rerun the same command.

    MULTI30K_DIR=... .venv/bin/python bench/quality.py          (measured: 2 h 20 min on 2 CPU cores)
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "bench", "results")
SYSTEMS = ["base", "ls", "word_kd", "seq_kd", "hgkd_token", "hgkd_sentence",
           "hgkd_token_prediction", "hgkd_sentence_prediction"]
MODEL = ("--arch transformer --share-all-embeddings --encoder-layers 2 --decoder-layers 2 "
         "--encoder-embed-dim 128 --decoder-embed-dim 128 --encoder-ffn-embed-dim 512 "
         "--decoder-ffn-embed-dim 512 --encoder-attention-heads 4 --decoder-attention-heads 4 "
         "--dropout 0.1")
OPTIMIZER = ("--optimizer adam --adam-betas (0.9,0.98) --lr 2e-3 --lr-scheduler inverse_sqrt "
             "--warmup-updates 150 --max-tokens 4096 --num-workers 0")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=os.path.join(REPO, "bench", ".cache", "quality"))
    parser.add_argument("--teacher-epochs", type=int, default=16)
    parser.add_argument("--student-epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args()
    source = os.environ.get("MULTI30K_DIR")
    if not source:
        sys.exit("bench/quality.py: error: set MULTI30K_DIR to the Multi30K raw files")
    recipe = os.path.join(os.path.dirname(sys.executable), "hgkd-recipe")
    command = [
        recipe, "--dataset", "multi30k_de_en", "--workdir", args.workdir, "--from", source,
        "--prepare-args", "--vocab-size 8000", "--model-args", MODEL,
        "--train-args", f"{OPTIMIZER} --max-epoch {args.student_epochs}",
        "--teacher-train-args", f"{OPTIMIZER} --max-epoch {args.teacher_epochs}",
        "--systems", " ".join(SYSTEMS), "--eval-subsets", "test valid", "--gen-args", "--beam 5",
        "--seq-kd-gen-args", "--beam 5", "--average-last", "1", "--teacher-temperature", "fit",
        "--parallel", str(args.parallel), "--seed", str(args.seed), "--label", "bench/quality.py",
    ]
    subprocess.run(command, check=True)
    write_results(args, command)


def _load(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def write_results(args, command):
    from fairseq_hgkd.evaluation import plots, train_log

    test = _load(os.path.join(args.workdir, "report.json"))
    valid = _load(os.path.join(args.workdir, "report-valid", "report.json"))
    keys = ("bleu", "chrf", "nll", "ece", "mce", "accuracy")
    systems = {}
    for name, entry in test["systems"].items():
        log = os.path.join(args.workdir, name, "train.log")
        metric = "valid_loss" if name in ("base", "seq_kd") else "valid_nll_loss"
        systems[name] = {
            **{k: entry.get(k) for k in keys},
            "kd_frac": entry.get("kd_frac"),
            "kd_frac_per_epoch": entry.get("kd_frac_per_epoch"),
            "valid": {k: valid["systems"][name].get(k) for k in keys},
            "valid_nll_bits_per_epoch": train_log.per_epoch(log, metric),
        }
    temperature = _load(os.path.join(args.workdir, "teacher", "temperature.json"))["teacher"]
    results = {
        "command": "MULTI30K_DIR=... python bench/quality.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "workdir"),
        "recipe_command": command,
        "machine": {"python": platform.python_version(), "cpu": _cpu(), "cores": os.cpu_count()},
        "budget": {"teacher_epochs": args.teacher_epochs, "student_epochs": args.student_epochs,
                   "model": MODEL, "optimizer": OPTIMIZER, "seed": args.seed,
                   "checkpoint": "checkpoint_best.pt (lowest validation NLL)",
                   "teacher_temperature": temperature["temperature"]},
        "subset": "test (test_2016_flickr); 'valid' entries: val",
        "sacrebleu": test.get("sacrebleu"),
        "units": test.get("units"),
        "systems": systems,
    }
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "quality.json"), "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2)
    shutil.copyfile(os.path.join(args.workdir, "reliability.png"), os.path.join(RESULTS, "quality_reliability.png"))
    series = {n: s["kd_frac_per_epoch"] for n, s in systems.items() if s.get("kd_frac_per_epoch")}
    if series:
        plots.line_plot(series, os.path.join(RESULTS, "quality_kd_frac.png"), "epoch",
                        "kd_frac (share routed to the teacher)", "kd_frac per epoch, Multi30K DE-EN")
    text = markdown(results)
    with open(os.path.join(RESULTS, "quality.md"), "w", encoding="utf-8") as handle:
        handle.write(text)
    print(text)


def _cpu():
    try:
        with open("/proc/cpuinfo") as handle:
            return next(l.split(":", 1)[1].strip() for l in handle if l.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


def _f(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(results):
    budget = results["budget"]
    lines = [
        "# Quality benchmark: Multi30K DE->EN",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']['cpu']}, {results['machine']['cores']} cores (CPU only)  ",
        f"Budget: teacher {budget['teacher_epochs']} epochs, every student {budget['student_epochs']} "
        f"epochs, seed {budget['seed']}, {budget['checkpoint']}; teacher temperature fitted on valid: "
        f"{budget['teacher_temperature']:.3f}  ",
        f"Model: `{budget['model']}`; `{budget['optimizer']}`",
        "",
        "| system | BLEU test | chrF test | NLL test | ECE test | MCE test | BLEU valid | ECE valid | kd_frac (last epoch) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, s in results["systems"].items():
        lines.append(f"| {name} | {_f(s['bleu'])} | {_f(s['chrf'])} | {_f(s['nll'], 3)} | {_f(s['ece'])} | "
                     f"{_f(s['mce'])} | {_f(s['valid']['bleu'])} | {_f(s['valid']['ece'])} | "
                     f"{_f(s['kd_frac'], 3)} |")
    lines += ["", "NLL in nats per target token (teacher-forced); ECE/MCE in percent (10 bins, token level).",
              f"sacrebleu: `{results['sacrebleu']['bleu']}`, `{results['sacrebleu']['chrf']}`" if results.get("sacrebleu") else "",
              "", "Validation NLL (bits, fairseq's nll_loss) per epoch:", ""]
    for name, s in results["systems"].items():
        lines.append(f"- {name}: " + ", ".join(_f(v) for v in s["valid_nll_bits_per_epoch"]))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
