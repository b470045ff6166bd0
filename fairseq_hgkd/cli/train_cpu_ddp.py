"""`hgkd-train-cpu`: fairseq-train as N data-parallel CPU processes (gloo), for machines without
GPUs and for checking multi-worker behaviour. Usage: hgkd-train-cpu --workers 2 DATA [fairseq-train
options]; every fairseq-train option works (--cpu and the distributed options are set for you)."""
import argparse
import sys

from fairseq_hgkd.errors import one_line_errors


@one_line_errors("hgkd-train-cpu")
def main(argv=None) -> int:
    from fairseq_hgkd import cpu_distributed

    parser = argparse.ArgumentParser(prog="hgkd-train-cpu", description=__doc__, add_help=False)
    parser.add_argument("--workers", type=int, default=2)
    args, rest = parser.parse_known_args(argv)
    if not rest or rest[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    cpu_distributed.train(rest, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
