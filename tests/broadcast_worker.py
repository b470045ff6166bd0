"""Two gloo processes run fairseq's multi-GPU resume broadcast (broadcast_object) on CPU.

Usage: python broadcast_worker.py CHECKPOINT INIT_FILE [extra]
With 'extra', rank 0 adds a datetime.date (a global outside the allow-list) to the state.
Rank 1 prints what it received, or the one-line refusal.
"""
import datetime
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def worker(rank, checkpoint, init_file, extra):
    import fairseq_hgkd  # noqa: F401  (installs the safe loading)
    from fairseq import checkpoint_utils
    from fairseq.distributed import utils as distributed_utils

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    state = None
    if rank == 0:
        state = checkpoint_utils.load_checkpoint_to_cpu(checkpoint)
        if extra:
            state["extra_state"]["when"] = datetime.date(2020, 1, 1)
    try:
        received = distributed_utils.broadcast_object(
            state, src_rank=0, group=dist.group.WORLD, dist_device=torch.device("cpu")
        )
    except Exception as error:  # report, do not hang the other rank
        if rank == 1:
            print(f"RANK1 {type(error).__name__}: {error}", flush=True)
        return
    if rank == 1:
        total = sum(float(t.double().sum()) for t in received["model"].values())
        print(f"RANK1 cfg={type(received['cfg']).__name__} params={len(received['model'])} "
              f"checksum={total:.6f} when={received['extra_state'].get('when')}", flush=True)
    else:
        total = sum(float(t.double().sum()) for t in state["model"].values())
        print(f"RANK0 checksum={total:.6f}", flush=True)


if __name__ == "__main__":
    checkpoint, init_file = sys.argv[1], sys.argv[2]
    extra = len(sys.argv) > 3
    mp.spawn(worker, args=(checkpoint, init_file, extra), nprocs=2, join=True)
