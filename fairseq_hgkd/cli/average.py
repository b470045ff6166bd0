"""`hgkd-average`: average the weights of the last N epoch checkpoints (or of given files)."""
import argparse
import os
import sys

from fairseq_hgkd.cli import quiet_logging
from fairseq_hgkd.errors import HgkdError, one_line_errors


@one_line_errors("hgkd-average")
def main(argv=None) -> int:
    from fairseq_hgkd.checkpoint_average import average_checkpoints, last_epoch_checkpoints

    parser = argparse.ArgumentParser(prog="hgkd-average", description=__doc__)
    parser.add_argument("inputs", nargs="+", help="checkpoint files, or one save directory with --last")
    parser.add_argument("--last", type=int, help="average the last N checkpoint{EPOCH}.pt of the directory")
    parser.add_argument("--output", required=True)
    parser.add_argument("--force", action="store_true", help="replace an existing --output")
    args = parser.parse_args(argv)
    quiet_logging()
    if os.path.exists(args.output) and not args.force:
        raise HgkdError(f"{args.output} exists; pass --force to replace it")
    if args.last is not None and args.last < 1:
        raise HgkdError(f"--last must be >= 1, got {args.last}")
    if args.last:
        if len(args.inputs) != 1:
            raise HgkdError("--last takes exactly one save directory")
        paths = last_epoch_checkpoints(args.inputs[0], args.last)
    else:
        paths = args.inputs
    average_checkpoints(paths, args.output)
    print(f"averaged {len(paths)} checkpoints into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
