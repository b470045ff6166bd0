"""What distillation costs next to plain training: time per update and peak memory of word_kd,
hgkd_token and hgkd_sentence as ratios to fairseq's label_smoothed_cross_entropy, same student.

Side by side in one run: every system gets its own copy of the same student (and optimizer),
and each round runs one update of every system, in turn, on the same batch of real Multi30K data
(A B C ... A B C ...), after warm-up; we report the median and the spread (min-max) over rounds.
Settings: a teacher of the student's size and one twice as deep; vocabulary ~8k (Multi30K's joint
BPE) and 32k (the same dictionary padded with unused symbols, so only the output layer and the
softmax grow); two batch sizes. The criterion's own work (gates, KL, calibration bins, its
backward to the log-probabilities) is timed separately on captured log-probabilities.

Peak memory: on GPU torch.cuda.max_memory_allocated; on CPU the tensors held before the update
(parameters, optimizer state, teacher) plus the peak of what one update allocates on top
(torch.profiler's memory timeline, in separate untimed updates).

    .venv/bin/python bench/speed.py --out bench/results/speed.json     (MULTI30K_DIR must be set)
"""
import argparse
import copy
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER_DIR = os.path.join(REPO, "fairseq_hgkd")
CACHE = os.path.join(REPO, "bench", ".cache")

STUDENT = ["--arch", "transformer", "--share-all-embeddings", "--encoder-layers", "3",
           "--decoder-layers", "3", "--encoder-embed-dim", "256", "--decoder-embed-dim", "256",
           "--encoder-ffn-embed-dim", "1024", "--decoder-ffn-embed-dim", "1024",
           "--encoder-attention-heads", "4", "--decoder-attention-heads", "4", "--dropout", "0.1"]
NATIVE_VOCAB = 8000  # Multi30K's joint BPE (its dictionary has a few symbols less)
CRITERIA = {
    "label_smoothed_cross_entropy": ["--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1"],
    "word_kd": ["--criterion", "word_kd", "--kd-alpha", "0.5"],
    "hgkd_token": ["--criterion", "hgkd_token"],
    "hgkd_sentence": ["--criterion", "hgkd_sentence"],
}


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def prepare_data(vocab_size):
    out = os.path.join(CACHE, f"multi30k-{vocab_size}")
    data_bin = os.path.join(out, "data-bin")
    if not os.path.isdir(data_bin):
        source = os.environ.get("MULTI30K_DIR")
        if not source:
            sys.exit("bench/speed.py: error: set MULTI30K_DIR to the Multi30K raw files")
        subprocess.run([os.path.join(os.path.dirname(sys.executable), "hgkd-prepare"), "multi30k_de_en",
                        "--out", out, "--from", source, "--vocab-size", str(vocab_size)], check=True)
    return data_bin


def make_teacher_checkpoint(data_bin, layers, path):
    """A teacher checkpoint with random weights: cost does not depend on what it learned."""
    if os.path.isfile(path):
        return path
    from fairseq import checkpoint_utils
    from fairseq.trainer import Trainer  # noqa: F401  (fairseq import order)

    task, cfg = build(data_bin, STUDENT + ["--encoder-layers", str(layers), "--decoder-layers", str(layers)]
                      + CRITERIA["label_smoothed_cross_entropy"])
    model = task.build_model(cfg.model)
    history = [{"criterion_name": "LabelSmoothedCrossEntropyCriterion", "optimizer_name": "FairseqAdam",
                "lr_scheduler_state": {"best": None}, "num_updates": 0}]
    state = {"cfg": cfg, "args": None, "model": model.state_dict(), "optimizer_history": history,
             "task_state": task.state_dict(), "extra_state": {}, "last_optimizer_state": None}
    from omegaconf import OmegaConf

    state["cfg"] = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    checkpoint_utils.torch_persistent_save(state, path)
    return path


def build(data_bin, extra):
    import fairseq_hgkd  # noqa: F401
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, [data_bin, "--user-dir", USER_DIR, "--task",
                                                "translation_with_teacher", "--cpu", "--optimizer",
                                                "adam", "--lr", "1e-4", "--max-tokens", "4096",
                                                "--seed", "1"] + extra)
    cfg = convert_namespace_to_omegaconf(args)
    return tasks.setup_task(cfg.task), cfg


def pad_dictionary(task, size):
    for d in {id(task.src_dict): task.src_dict, id(task.tgt_dict): task.tgt_dict}.values():
        i = 0
        while len(d) < size:
            d.add_symbol(f"<unused{i}>")
            i += 1


class System:
    def __init__(self, name, task, cfg, model, device):
        from fairseq.optim import build_optimizer

        self.name = name
        self.task = task
        self.model = model
        self.criterion = task.build_criterion(cfg.criterion).to(device)
        self.optimizer = build_optimizer(cfg.optimizer, list(self.model.parameters()))
        self.times = []
        self.criterion_times = []

    def update(self, sample, number):
        self.optimizer.zero_grad()
        self.task.train_step(sample, self.model, self.criterion, self.optimizer, number)
        self.optimizer.step()

    def static_bytes(self):
        tensors = list(self.model.parameters())
        for state in self.optimizer.optimizer.state.values():
            tensors += [v for v in state.values() if torch.is_tensor(v)]
        teacher = getattr(self.task, "teacher", None)
        if teacher is not None:
            tensors += [p for m in teacher.models for p in m.parameters()]
        return sum(t.numel() * t.element_size() for t in tensors)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed_update(system, sample, number, device):
    sync(device)
    start = time.perf_counter()
    system.update(sample, number)
    sync(device)
    return time.perf_counter() - start


def peak_bytes(system, sample, device):
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        system.update(sample, 0)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()
    from torch.profiler import ProfilerActivity, profile

    system.optimizer.zero_grad()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True,
                 with_stack=True) as prof:
        system.update(sample, 0)
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "timeline.json")
        prof.export_memory_timeline(path, device="cpu")
        with open(path) as handle:
            _times, sizes = json.load(handle)
    dynamic = max(sum(point) for point in sizes) - sum(sizes[0])
    return system.static_bytes() + dynamic


def criterion_own_time(system, sample, device):
    """The criterion's own work on captured model outputs: for the distillation criteria the
    teacher's normalization, gates, KL and calibration bins, and the backward to the logits;
    for label smoothing fairseq's log-softmax, loss and their backward. Model passes excluded."""
    from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss

    from fairseq_hgkd.calibration import bin_statistics
    from fairseq_hgkd.fused_distillation import mixed_distillation_loss, student_stats, teacher_distribution_

    model, task = system.model, system.task
    with torch.no_grad():
        logits = model(**sample["net_input"])[0].detach()
        teacher_logits = ([m(**sample["net_input"])[0] for m in task.teacher.models]
                          if task.teacher else None)
    logits.requires_grad_(True)
    target = sample["target"]
    mask = target.ne(task.target_dictionary.pad())
    sync(device)
    start = time.perf_counter()
    if teacher_logits is None:
        lprobs = torch.log_softmax(logits.float(), -1)
        loss, _ = label_smoothed_nll_loss(lprobs.view(-1, lprobs.size(-1)), target.view(-1), 0.1,
                                          ignore_index=task.target_dictionary.pad())
    else:
        stats = student_stats(logits)
        teacher = teacher_distribution_(teacher_logits, task.teacher.temperature,
                                        {"gold": target, "prediction": stats.prediction})
        scores = {"gold": (stats.log_prob_at(target), teacher.log_probs_at["gold"]),
                  "prediction": (stats.confidence.log(), teacher.log_probs_at["prediction"])}
        coef_kd, coef_gold, _ = system.criterion.mixing(scores, mask)
        loss = mixed_distillation_loss(logits, teacher, target, mask, coef_kd, coef_gold,
                                       system.criterion.eps, stats)[0].sum()
        bin_statistics(stats.confidence, stats.prediction.eq(target), mask)
    loss.backward()
    sync(device)
    return time.perf_counter() - start


def batches_of(task, max_tokens, count):
    task.load_dataset("train")
    iterator = task.get_batch_iterator(task.dataset("train"), max_tokens=max_tokens, seed=1,
                                       required_batch_size_multiple=1)
    chosen = []
    for sample in iterator.next_epoch_itr(shuffle=True):
        if sample["ntokens"] >= 0.8 * max_tokens:
            chosen.append(sample)
        if len(chosen) == count:
            return chosen
    raise RuntimeError("not enough full batches")


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def run_setting(data_bin, vocab, max_tokens, teachers, args, device):
    from fairseq import utils

    systems = []
    base_task, base_cfg = build(data_bin, STUDENT + CRITERIA["label_smoothed_cross_entropy"])
    if vocab > NATIVE_VOCAB:
        pad_dictionary(base_task, vocab)
    torch.manual_seed(1)
    student = base_task.build_model(base_cfg.model)
    samples = [utils.move_to_cuda(s) if device.type == "cuda" else s
               for s in batches_of(base_task, max_tokens, args.batches)]
    plan = [("label_smoothed_cross_entropy", None)]
    plan += [(c, t) for t in teachers for c in ("word_kd", "hgkd_token", "hgkd_sentence")]
    for criterion, teacher in plan:
        extra = list(CRITERIA[criterion])
        if teacher:
            extra += ["--teacher-path", teachers[teacher]]
        task, cfg = build(data_bin, STUDENT + extra)
        if vocab > NATIVE_VOCAB:
            pad_dictionary(task, vocab)
        model = copy.deepcopy(student).to(device)
        if teacher:
            task.teacher = None
            task.build_model(cfg.model)  # loads the teacher (the student built here is dropped)
        name = criterion if teacher is None else f"{criterion}/{teacher}"
        systems.append(System(name, task, cfg, model, device))
    log(f"vocab {vocab}, {max_tokens} tokens per batch: {len(systems)} systems, "
        f"{args.warmup} warm-up + {args.rounds} rounds")
    for system in systems:
        for i in range(args.warmup):
            system.update(samples[i % len(samples)], i)
    for r in range(args.rounds):
        sample = samples[r % len(samples)]
        for system in systems:  # interleaved: A B C ... on the same batch
            system.times.append(timed_update(system, sample, args.warmup + r, device))
            system.criterion_times.append(criterion_own_time(system, sample, device))
    memory = {s.name: peak_bytes(s, samples[0], device) for s in systems}
    reference = systems[0]
    ref_time = statistics.median(reference.times)
    rows = {"_dictionary_size": len(base_task.target_dictionary)}
    for system in systems:
        t = spread(system.times)
        rows[system.name] = {
            "time_per_update_s": t,
            "time_ratio": t["median"] / ref_time,
            "time_ratio_range": [t["min"] / ref_time, t["max"] / ref_time],
            "peak_memory_bytes": memory[system.name],
            "mem_ratio": memory[system.name] / memory[reference.name],
            "criterion_time_s": spread(system.criterion_times),
            "criterion_share": statistics.median(system.criterion_times) / t["median"],
        }
    return rows


def machine():
    info = {"python": platform.python_version(), "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "threads": torch.get_num_threads()}
    try:
        with open("/proc/cpuinfo") as handle:
            names = [l.split(":", 1)[1].strip() for l in handle if l.startswith("model name")]
        info["cpu"] = names[0] if names else info["cpu"]
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def table(results):
    lines = ["| vocab | tokens/batch | system | time/update (s, median [min-max]) | time ratio | "
             "peak mem (MiB) | mem ratio | criterion share |",
             "| ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |"]
    for setting in results["settings"]:
        for name, row in setting["systems"].items():
            t = row["time_per_update_s"]
            lines.append(
                f"| {setting['dictionary_size']} | {setting['max_tokens']} | {name} | {t['median']:.3f} "
                f"[{t['min']:.3f}-{t['max']:.3f}] | {row['time_ratio']:.2f} | "
                f"{row['peak_memory_bytes'] / 2**20:.0f} | {row['mem_ratio']:.2f} | "
                f"{100 * row['criterion_share']:.1f}% |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocabs", default="8000,32000")
    parser.add_argument("--max-tokens", default="1024,2048")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "results", "speed.json"))
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    from fairseq_hgkd.cli import quiet_logging

    quiet_logging()
    data_bin = prepare_data(8000)
    teachers = {
        "same_size": make_teacher_checkpoint(data_bin, 3, os.path.join(CACHE, "teacher-3layers.pt")),
        "twice_deep": make_teacher_checkpoint(data_bin, 6, os.path.join(CACHE, "teacher-6layers.pt")),
    }
    results = {"command": " ".join(["python"] + sys.argv), "machine": machine(),
               "device": str(device), "student": " ".join(STUDENT), "settings": []}
    for vocab in (int(v) for v in args.vocabs.split(",")):
        for max_tokens in (int(t) for t in args.max_tokens.split(",")):
            if vocab > NATIVE_VOCAB:  # the padded dictionary also needs teachers of that output size
                teachers_v = {k: make_padded_teacher(v, vocab) for k, v in teachers.items()}
            else:
                teachers_v = teachers
            rows = run_setting(data_bin, vocab, max_tokens, teachers_v, args, device)
            results["settings"].append({"vocab": vocab, "max_tokens": max_tokens, "systems": rows,
                                        "dictionary_size": rows.pop("_dictionary_size")})
    text = table(results)
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(results, handle, indent=2)
    with open(os.path.splitext(args.out)[0] + ".md", "w") as handle:
        handle.write(f"# Speed benchmark\n\nCommand: `{results['command']}`\n\n"
                     f"Machine: {json.dumps(results['machine'])}\n\nStudent: `{results['student']}`\n\n"
                     f"{text}\n")


def make_padded_teacher(path, vocab):
    """The same teacher with its embedding/output matrix grown to `vocab` rows (unused symbols)."""
    padded = path.replace(".pt", f"-v{vocab}.pt")
    if os.path.isfile(padded):
        return padded
    import fairseq_hgkd  # noqa: F401
    from fairseq_hgkd.safe_checkpoint import load_checkpoint
    from fairseq import checkpoint_utils

    state = load_checkpoint(path)
    for key, value in list(state["model"].items()):
        if value.dim() == 2 and value.size(0) < vocab and ("embed_tokens" in key or "output_projection" in key):
            extra = torch.randn(vocab - value.size(0), value.size(1)) * value.std()
            state["model"][key] = torch.cat([value, extra], dim=0)
    signature = state["task_state"]["hgkd_data_signature"]
    for side in ("source_dictionary", "target_dictionary"):
        symbols = signature[side]
        i = 0
        while len(symbols) < vocab:
            symbols.append(f"<unused{i}>")
            i += 1
    from omegaconf import OmegaConf

    state["cfg"] = OmegaConf.to_container(state["cfg"])
    checkpoint_utils.torch_persistent_save(state, padded)
    return padded


if __name__ == "__main__":
    main()
