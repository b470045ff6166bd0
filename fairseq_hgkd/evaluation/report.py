"""The evaluation report of a run: every system's BLEU, chrF, NLL, ECE, MCE and kd_frac.

report.json: {"subset": ..., "sacrebleu": {...}, "systems": {NAME: {"bleu", "chrf", "nll", "ece",
"mce", "kd_frac", ...}}}; report.md: the same as a table; reliability.png and confidence.png.
"""
import json
import os
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional

from fairseq_hgkd.atomic_io import atomic_file, write_json
from fairseq_hgkd.evaluation import bleu as bleu_scoring
from fairseq_hgkd.evaluation import plots, teacher_forced, train_log
from fairseq_hgkd.errors import HgkdError

DATA_INFO = "hgkd_data.json"


@dataclass
class SystemSpec:
    name: str
    checkpoint: str
    generated: Optional[str] = None  # fairseq-generate output on the same subset
    train_log: Optional[str] = None  # fairseq-train --log-format json output


def data_info(data_bin: str) -> dict:
    path = os.path.join(data_bin, DATA_INFO)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def default_references(data_bin: str, subset: str) -> Optional[str]:
    info = data_info(data_bin)
    if not info.get("raw_dir"):
        return None
    return os.path.join(info["raw_dir"], f"{subset}.{info['target_lang']}")


def _log(message: str) -> None:
    print(f"[eval] {message}", file=sys.stderr, flush=True)


def evaluate_systems(data_bin: str, systems: List[SystemSpec], subset: str = "test",
                     references: Optional[str] = None, max_tokens: int = 4000,
                     cpu: bool = False) -> dict:
    info = data_info(data_bin)
    references = references or default_references(data_bin, subset)
    refs = bleu_scoring.load_references(references) if references else None
    spm_model = bleu_scoring.load_spm(os.path.join(data_bin, info.get("spm_model", "spm.model")))
    report = {"data_bin": os.path.abspath(data_bin), "subset": subset, "systems": {},
              "units": {"nll": "nats per target token (teacher-forced)",
                        "ece": "percent, 10 equal-width bins, token level",
                        "mce": "percent", "accuracy": "percent of target tokens",
                        "kd_frac": "share of tokens (HKD-T) or sentences (HKD-S) routed to the "
                                   "teacher, last training epoch"}}
    for spec in systems:
        _log(f"{spec.name}: teacher-forced metrics on {subset}")
        loaded = teacher_forced.load_model(data_bin, spec.checkpoint, cpu)
        entry = teacher_forced.evaluate(loaded, subset, max_tokens)
        entry["checkpoint"] = os.path.abspath(spec.checkpoint)
        if spec.generated:
            if refs is None:
                raise HgkdError(f"no references for {subset}: pass --references FILE")
            hyps, missing = bleu_scoring.ordered_hypotheses(spec.generated, len(refs), spm_model)
            scores = bleu_scoring.score(hyps, refs)
            report["sacrebleu"] = {"bleu": scores.pop("bleu_signature"),
                                   "chrf": scores.pop("chrf_signature")}
            entry.update(scores, missing_hypotheses=missing)
        entry["kd_frac"] = train_log.final(spec.train_log, "train_kd_frac") if spec.train_log else None
        if spec.train_log:
            entry["kd_frac_per_epoch"] = train_log.per_epoch(spec.train_log, "train_kd_frac")
        report["systems"][spec.name] = entry
        _log(f"{spec.name}: " + ", ".join(
            f"{k} {entry[k]:.2f}" for k in ("bleu", "chrf", "nll", "ece", "mce") if entry.get(k) is not None))
    return report


def _cell(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(report: dict) -> str:
    lines = [
        f"# Evaluation on `{report['subset']}`",
        "",
        "| system | BLEU | chrF | NLL | ECE | MCE | kd_frac |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, s in report["systems"].items():
        lines.append(
            f"| {name} | {_cell(s.get('bleu'))} | {_cell(s.get('chrf'))} | {_cell(s.get('nll'), 3)} "
            f"| {_cell(s.get('ece'))} | {_cell(s.get('mce'))} | {_cell(s.get('kd_frac'), 3)} |"
        )
    lines += ["", "NLL: " + report["units"]["nll"] + "; ECE/MCE: " + report["units"]["ece"] + ".",
              "kd_frac: " + report["units"]["kd_frac"] + "."]
    if "sacrebleu" in report:
        lines += ["", f"sacrebleu: `{report['sacrebleu']['bleu']}`, `{report['sacrebleu']['chrf']}`"]
    return "\n".join(lines) + "\n"


def write(report: dict, out_dir: str) -> Dict[str, str]:
    """report.json, report.md, reliability.png, confidence.png in out_dir (each written atomically)."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {"json": os.path.join(out_dir, "report.json"), "md": os.path.join(out_dir, "report.md")}
    bins = {name: s["bins"] for name, s in report["systems"].items() if s.get("bins")}
    if bins:
        paths["reliability"] = plots.reliability_diagram(
            bins, os.path.join(out_dir, "reliability.png"),
            f"Reliability diagram, {report['subset']} (token level, teacher-forced)")
        paths["confidence"] = plots.confidence_histogram(
            bins, os.path.join(out_dir, "confidence.png"), f"Confidence histogram, {report['subset']}")
    write_json(paths["json"], report)
    with atomic_file(paths["md"], encoding="utf-8") as handle:
        handle.write(markdown(report))
    return paths
