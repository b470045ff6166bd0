"""`hgkd-prepare`: raw parallel corpus -> fairseq data-bin with a joint sentencepiece BPE model."""
import argparse
import os
import sys

from fairseq_hgkd.cli import quiet_logging
from fairseq_hgkd.errors import HgkdError, one_line_errors


def build_parser() -> argparse.ArgumentParser:
    from fairseq_hgkd.prepare.corpora import CORPORA

    parser = argparse.ArgumentParser(
        prog="hgkd-prepare",
        description="Prepare a translation corpus for fairseq: check, clean (train only), "
        "train a joint sentencepiece BPE model, encode, binarize. Idempotent: finished steps "
        "are skipped; an interrupted step is redone.",
    )
    parser.add_argument("dataset", choices=sorted(CORPORA) + ["local"],
                        help="corpus to prepare ('local': your own files, see --from)")
    parser.add_argument("--out", required=True, help="output directory (OUT/data-bin is the result)")
    parser.add_argument("--from", dest="source", default=None,
                        help="local copy of the corpus (directory or archive) instead of downloading; "
                        "for 'local': a directory with train/valid/test.{SRC,TGT}[.gz]")
    parser.add_argument("--src", help="source language (required for 'local')")
    parser.add_argument("--tgt", help="target language (required for 'local')")
    parser.add_argument("--vocab-size", type=int, default=None,
                        help="joint BPE vocabulary size (default: per dataset)")
    parser.add_argument("--max-len", type=int, default=175, help="drop train pairs longer than this (words)")
    parser.add_argument("--max-ratio", type=float, default=None,
                        help="drop train pairs whose length ratio exceeds this (default: per dataset)")
    parser.add_argument("--train-limit", type=int, default=None,
                        help="use only the first N training pairs (quick runs)")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument("--force", action="store_true", help="redo every step, replacing earlier output")
    return parser


@one_line_errors("hgkd-prepare")
def main(argv=None) -> int:
    from fairseq_hgkd.prepare.corpora import CORPORA, local_corpus
    from fairseq_hgkd.prepare.pipeline import PrepareSettings, prepare

    args = build_parser().parse_args(argv)
    quiet_logging()
    if args.dataset == "local":
        if not args.src or not args.tgt:
            raise HgkdError("the local corpus needs --src LANG and --tgt LANG")
        spec = local_corpus(args.src, args.tgt)
    else:
        spec = CORPORA[args.dataset]
        if args.dataset.startswith("multi30k") and args.source is None:
            args.source = os.environ.get("MULTI30K_DIR") or None
    if args.source is not None and not os.path.exists(args.source):
        raise HgkdError(f"--from {args.source} does not exist")
    for name in ("vocab_size", "max_len", "train_limit"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise HgkdError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    settings = PrepareSettings(
        vocab_size=args.vocab_size or spec.vocab_size,
        max_len=args.max_len,
        max_ratio=args.max_ratio or spec.max_ratio,
        train_limit=args.train_limit,
    )
    data_bin = prepare(spec, args.out, settings, args.source, args.workers, args.force)
    print(data_bin)
    return 0


if __name__ == "__main__":
    sys.exit(main())
