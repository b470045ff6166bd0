"""Averaging the weights of several checkpoints of one run (the last epochs), read safely."""
import os
import re
from typing import List

import torch

from fairseq_hgkd.atomic_io import atomic_file
from fairseq_hgkd.errors import HgkdError
from fairseq_hgkd.safe_checkpoint import load_checkpoint

_EPOCH_CHECKPOINT = re.compile(r"^checkpoint(\d+)\.pt$")


def last_epoch_checkpoints(save_dir: str, n: int) -> List[str]:
    """The n epoch checkpoints checkpoint{E}.pt with the highest E, oldest first."""
    if not os.path.isdir(save_dir):
        raise HgkdError(f"{save_dir} is not a directory; --last takes a training's save directory")
    epochs = sorted(
        int(m.group(1)) for m in map(_EPOCH_CHECKPOINT.match, os.listdir(save_dir)) if m
    )
    if len(epochs) < n:
        raise HgkdError(
            f"{save_dir} has {len(epochs)} epoch checkpoints, {n} are needed for averaging; "
            "train longer or average fewer"
        )
    return [os.path.join(save_dir, f"checkpoint{e}.pt") for e in epochs[-n:]]


def average_checkpoints(paths: List[str], output: str) -> str:
    """Write a checkpoint whose model weights are the mean of `paths` (optimizer state dropped)."""
    if not paths:
        raise HgkdError("no checkpoints to average")
    total, state, reference = None, None, None
    for path in paths:
        state = load_checkpoint(path)
        model = state["model"]
        if reference is None:
            reference = {k: (v.shape, v.dtype) for k, v in model.items()}
            total = {k: v.double().clone() for k, v in model.items()}
            continue
        if {k: (v.shape, v.dtype) for k, v in model.items()} != reference:
            raise HgkdError(f"{path} does not have the same parameters as {paths[0]}; "
                            "only checkpoints of one run can be averaged")
        for key, value in model.items():
            total[key] += value.double()
    state["model"] = {k: (v / len(paths)).to(reference[k][1]) for k, v in total.items()}
    state["last_optimizer_state"] = None  # not needed to generate; keeps the file small
    state.setdefault("extra_state", {})["averaged_from"] = [os.path.basename(p) for p in paths]
    with atomic_file(output, "wb") as handle:
        torch.save(state, handle)
    return output
