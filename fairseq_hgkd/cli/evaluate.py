"""`hgkd-eval`: teacher-forced NLL / accuracy / ECE / MCE, reliability diagram, BLEU and chrF,
and post-hoc temperature fitting, for one or more checkpoints on a data-bin subset."""
import argparse
import os
import sys
from typing import Dict, List

from fairseq_hgkd.cli import quiet_logging
from fairseq_hgkd.errors import HgkdError, one_line_errors


def _named(values: List[str], option: str) -> Dict[str, str]:
    """NAME=PATH pairs; a bare PATH is named after its directory."""
    named = {}
    for value in values or []:
        name, sep, path = value.partition("=")
        if not sep:
            path, name = value, os.path.basename(os.path.dirname(os.path.abspath(value))) or value
        if name in named:
            raise HgkdError(f"{option}: the name {name!r} is given twice")
        named[name] = path
    return named


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hgkd-eval",
        description="Evaluate checkpoints: teacher-forced NLL, accuracy, ECE and MCE (10 bins), a "
        "reliability diagram of all systems, BLEU and chrF (sacrebleu, detokenized) from "
        "fairseq-generate output, and report.json / report.md.",
    )
    parser.add_argument("data_bin", help="fairseq data-bin (from hgkd-prepare)")
    parser.add_argument("--checkpoint", action="append", required=True, metavar="NAME=PATH",
                        help="a system's checkpoint; repeat for several systems")
    parser.add_argument("--subset", default="test", help="data-bin subset (default: test)")
    parser.add_argument("--generated", action="append", metavar="NAME=FILE",
                        help="fairseq-generate output of system NAME on the same subset (for BLEU/chrF)")
    parser.add_argument("--train-log", action="append", metavar="NAME=FILE",
                        help="fairseq-train --log-format json log of NAME (for kd_frac)")
    parser.add_argument("--references", help="reference file (default: from the data-bin's hgkd_data.json)")
    parser.add_argument("--out", help="directory for report.json, report.md and the figures")
    parser.add_argument("--fit-temperature", action="store_true",
                        help="instead of the report: fit and print the temperature minimizing each "
                        "checkpoint's NLL on --subset (post-hoc temperature scaling)")
    parser.add_argument("--max-tokens", type=int, default=4000)
    parser.add_argument("--cpu", action="store_true", help="evaluate on CPU even when a GPU exists")
    return parser


@one_line_errors("hgkd-eval")
def main(argv=None) -> int:
    from fairseq_hgkd.atomic_io import write_json
    from fairseq_hgkd.evaluation import report as reporting
    from fairseq_hgkd.evaluation import teacher_forced

    args = build_parser().parse_args(argv)
    quiet_logging()
    if not os.path.isdir(args.data_bin):
        raise HgkdError(f"data-bin {args.data_bin} does not exist")
    checkpoints = _named(args.checkpoint, "--checkpoint")
    generated = _named(args.generated, "--generated")
    logs = _named(args.train_log, "--train-log")
    for option, named in (("--generated", generated), ("--train-log", logs)):
        unknown = sorted(set(named) - set(checkpoints))
        if unknown:
            raise HgkdError(f"{option} names {unknown} have no --checkpoint NAME=PATH")
    if args.fit_temperature:
        fitted = {}
        for name, path in checkpoints.items():
            loaded = teacher_forced.load_model(args.data_bin, path, args.cpu)
            fitted[name] = teacher_forced.fit_temperature(loaded, args.subset, args.max_tokens)
            f = fitted[name]
            print(f"{name}\ttemperature {f['temperature']:.4f}\tNLL {f['nll_at_1']:.4f} -> "
                  f"{f['nll']:.4f} on {args.subset}")
        if args.out:
            write_json(os.path.join(args.out, "temperature.json"), fitted)
        return 0
    systems = [reporting.SystemSpec(name, path, generated.get(name), logs.get(name))
               for name, path in checkpoints.items()]
    report = reporting.evaluate_systems(args.data_bin, systems, args.subset, args.references,
                                        args.max_tokens, args.cpu)
    if args.out:
        for kind, path in reporting.write(report, args.out).items():
            print(f"{kind}\t{path}")
    else:
        sys.stdout.write(reporting.markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
