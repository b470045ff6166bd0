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
    except Exception as error:
        # rank 1 refused the state: it reports and leaves; rank 0, still broadcasting the
        # tensors, then fails on the closed connection (as a real training run would stop)
        _say(f"RANK{rank} {type(error).__name__}: {error}")
        return
    checksum = sum(float(t.double().sum()) for t in received["model"].values())
    if rank == 1:
        _say(f"RANK1 cfg={type(received['cfg']).__name__} params={len(received['model'])} "
             f"checksum={checksum:.6f} when={received['extra_state'].get('when')}")
    else:
        _say(f"RANK0 checksum={checksum:.6f}")
    dist.barrier()  # leave together, so that no gloo thread is cut off at exit
    dist.destroy_process_group()


def _say(line):
    sys.stdout.write(line + "\n")  # one write per line: the two ranks share stdout
    sys.stdout.flush()


if __name__ == "__main__":
    checkpoint, init_file = sys.argv[1], sys.argv[2]
    extra = len(sys.argv) > 3
    mp.spawn(worker, args=(checkpoint, init_file, extra), nprocs=2, join=True)
