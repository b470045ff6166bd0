"""Data-parallel fairseq-train on CPU processes (gloo), for machines without GPUs and for tests.

fairseq 0.12 cannot do this by itself: `--cpu` keeps the world size at the number of CUDA devices
(so torchrun starts independent single-process trainings), `--distributed-world-size 2 --cpu`
asserts that two CUDA devices exist, and its PyTorch DDP wrapper passes CUDA device ids. This
launcher sets the distributed configuration explicitly (gloo, a file rendezvous, one rank per
process), uses fairseq's legacy DDP wrapper, which works on CPU tensors, and runs fairseq's own
per-process entry point (`distributed_main`) with fairseq-train's `main` in each process.
"""
import os
import tempfile
from typing import List

from fairseq_hgkd.errors import HgkdError


def _worker(index: int, cfg, init_file: str) -> None:
    import fairseq_hgkd  # noqa: F401  (registers the plugin and the safe loading in the child)
    from fairseq.distributed import utils as distributed_utils
    from fairseq_cli.train import main as train_main

    distributed_utils.distributed_main(index, train_main, cfg, {"start_rank": 0})


def train(argv: List[str], workers: int) -> None:
    """Run `fairseq-train argv` as `workers` CPU processes with a gloo process group."""
    import torch.multiprocessing as mp
    from fairseq import options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    if workers < 2:
        raise HgkdError("--workers must be at least 2 (use fairseq-train for one process)")
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, argv)
    cfg = convert_namespace_to_omegaconf(args)
    with tempfile.TemporaryDirectory(prefix="hgkd-gloo-") as scratch:
        init_file = os.path.join(scratch, "rendezvous")
        dt = cfg.distributed_training
        dt.distributed_world_size = workers
        dt.distributed_num_procs = workers
        dt.distributed_backend = "gloo"
        dt.distributed_init_method = f"file://{init_file}"
        dt.distributed_rank = None  # each process: start_rank + its index
        dt.ddp_backend = "legacy_ddp"
        dt.distributed_no_spawn = True
        cfg.common.cpu = True
        mp.spawn(_worker, args=(cfg, init_file), nprocs=workers, join=True)
