"""fairseq checkpoints under torch's weights-only unpickler (the default since torch 2.6).

A fairseq checkpoint is a pickle: besides tensors it holds the training configuration (an
argparse.Namespace and omegaconf containers), and the metrics state can hold numpy arrays (the
BLEU n-gram counts of --eval-bleu). torch >= 2.6 refuses all of these by default. Rather than
turning weights_only off, which would let a checkpoint run arbitrary code, `install()` registers
an explicit allow-list of exactly the classes such checkpoints contain (found by loading real
checkpoints, see tests/test_safe_checkpoint.py) and makes every fairseq code path that reads a
checkpoint - fairseq-train resume, fairseq-generate --path, hub loading, teacher loading and the
multi-GPU resume broadcast - report a refused global in one line instead of torch's advice to
disable the protection. A user who trusts a file opts in with HGKD_TRUST_CHECKPOINTS=1.
"""
import argparse
import collections
import contextlib
import functools
import logging
import os
import pickle
import re
import typing
from typing import List

import torch

from fairseq_hgkd.errors import HgkdError

logger = logging.getLogger(__name__)

TRUST_ENV = "HGKD_TRUST_CHECKPOINTS"
_TORCH_NO_WEIGHTS_ONLY_ENV = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


class UnsafeCheckpointError(HgkdError):
    """The checkpoint's pickle names a global outside the allow-list; nothing in it was run."""


class CheckpointReadError(HgkdError):
    """The file is missing, truncated, or not a PyTorch checkpoint at all."""


def trust_all_checkpoints() -> bool:
    return os.environ.get(TRUST_ENV, "").strip().lower() in ("1", "true", "yes")


def _numpy_globals() -> list:
    import numpy as np

    core = getattr(np, "_core", None) or np.core  # numpy >= 2 renamed numpy.core to numpy._core
    entries = [np.ndarray, np.dtype]
    # checkpoints written under numpy 1.x name these numpy.core.*, under numpy 2.x numpy._core.*
    for name in ("_reconstruct", "scalar"):
        fn = getattr(core.multiarray, name)
        entries += [(fn, f"numpy.core.multiarray.{name}"), (fn, f"numpy._core.multiarray.{name}")]
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25: the classes of dtype instances
    if dtypes is not None:
        numeric = ("Bool", "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32",
                   "UInt64", "Float16", "Float32", "Float64", "LongLong", "ULongLong")
        entries += [getattr(dtypes, f"{n}DType") for n in numeric if hasattr(dtypes, f"{n}DType")]
    return entries


def _omegaconf_globals() -> list:
    from omegaconf import DictConfig, ListConfig, base, nodes

    node_names = ("AnyNode", "StringNode", "IntegerNode", "FloatNode", "BooleanNode", "EnumNode",
                  "BytesNode", "PathNode")
    return [DictConfig, ListConfig, base.Metadata, base.ContainerMetadata] + [
        getattr(nodes, n) for n in node_names if hasattr(nodes, n)
    ]


def allowed_globals() -> list:
    """Every pickle global that fairseq / fairseq-hgkd checkpoints are allowed to name."""
    from fairseq.distributed.utils import _TensorPlaceholder

    return (
        [
            argparse.Namespace,  # legacy `args` and cfg.model of argparse-built models
            collections.defaultdict,
            (typing.Any, "typing.Any"),  # omegaconf's ref_type of untyped nodes
            dict, list, tuple, set, int, float, str, bool,  # omegaconf's node/ref types
            _TensorPlaceholder,  # fairseq's multi-GPU resume broadcasts the state without tensors
        ]
        + _omegaconf_globals()
        + _numpy_globals()
    )


_GLOBAL_PATTERNS = (
    re.compile(r"GLOBAL ([\w.]+) was not an allowed global"),
    re.compile(r"allowlisted via `add_safe_globals`, but got <class '([\w.]+)'>"),
    re.compile(r"Unsupported global: GLOBAL ([\w.]+)"),
)


def _refused_globals(error: Exception, source=None) -> List[str]:
    """The globals torch's weights-only unpickler refused, or [] if the error is of another kind."""
    names = []
    if isinstance(source, (str, os.PathLike)) and os.path.isfile(source):
        try:
            allowed = {"collections.OrderedDict"}  # torch allows it although the listing names it
            names = [g for g in torch.serialization.get_unsafe_globals_in_checkpoint(source)
                     if g not in allowed]
        except Exception:  # not a zip checkpoint: fall back to torch's message
            names = []
    if not names:
        for pattern in _GLOBAL_PATTERNS:
            names += [m for m in pattern.findall(str(error)) if m not in names]
    return sorted(set(names))


@contextlib.contextmanager
def _full_pickle():
    """Let torch.load fall back to the full (code-running) unpickler: only for trusted files."""
    previous = os.environ.get(_TORCH_NO_WEIGHTS_ONLY_ENV)
    os.environ[_TORCH_NO_WEIGHTS_ONLY_ENV] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ[_TORCH_NO_WEIGHTS_ONLY_ENV]
        else:
            os.environ[_TORCH_NO_WEIGHTS_ONLY_ENV] = previous


def _refusal(what: str, names: List[str]) -> UnsafeCheckpointError:
    return UnsafeCheckpointError(
        f"refusing to load {what}: it carries pickle global(s) {', '.join(names)} outside "
        f"fairseq-hgkd's allow-list, and loading it could run code; if you trust the file, "
        f"rerun with {TRUST_ENV}=1"
    )


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _guard_file_loader(load):
    """Wrap fairseq's `load_checkpoint_to_cpu(path, ...)` with our refusal and read errors."""

    @functools.wraps(load)
    def guarded(path, *args, **kwargs):
        try:
            return load(path, *args, **kwargs)
        except pickle.UnpicklingError as error:
            names = _refused_globals(error, path)
            if not names:
                raise CheckpointReadError(
                    f"{path} is not a readable PyTorch checkpoint ({_first_line(error)}); "
                    "check that the file is complete and was written by fairseq"
                ) from None
            if not trust_all_checkpoints():
                raise _refusal(str(path), names) from None
            logger.warning(
                "loading %s with the full unpickler because %s=1 (it carries %s)",
                path, TRUST_ENV, ", ".join(names),
            )
            with _full_pickle():
                return load(path, *args, **kwargs)
        except HgkdError:
            raise
        except MemoryError:
            raise
        except Exception as error:  # anything else torch or fairseq trips over: not a checkpoint
            message = str(error)
            if isinstance(error, EOFError) or "PytorchStreamReader" in message or "zip archive" in message:
                what = "is truncated or not a PyTorch checkpoint"
            else:
                what = "is not a readable fairseq checkpoint"
            raise CheckpointReadError(
                f"{path} {what} ({type(error).__name__}: {_first_line(error)}); re-copy the file "
                "or point to a checkpoint_*.pt written by fairseq-train"
            ) from None

    guarded._hgkd_guarded = True
    return guarded


def _guard_broadcast(broadcast):
    """Wrap fairseq's `_broadcast_object_slow`, whose receiving ranks torch.load rank 0's state."""

    @functools.wraps(broadcast)
    def guarded(*args, **kwargs):
        # The bytes are rank 0's own in-memory state: it already loaded the file under the same
        # policy, so a trusted file is received the same way (a retry would desynchronize ranks).
        if trust_all_checkpoints():
            with _full_pickle():
                return broadcast(*args, **kwargs)
        try:
            return broadcast(*args, **kwargs)
        except pickle.UnpicklingError as error:
            names = _refused_globals(error)
            if not names:
                raise
            raise _refusal("the checkpoint state broadcast by rank 0", names) from None

    guarded._hgkd_guarded = True
    return guarded


_installed = False


def install() -> None:
    """Register the allow-list and guard fairseq's checkpoint readers. Idempotent."""
    global _installed
    if _installed:
        return
    from fairseq import checkpoint_utils
    from fairseq.distributed import utils as distributed_utils

    torch.serialization.add_safe_globals(allowed_globals())
    if not getattr(checkpoint_utils.load_checkpoint_to_cpu, "_hgkd_guarded", False):
        checkpoint_utils.load_checkpoint_to_cpu = _guard_file_loader(
            checkpoint_utils.load_checkpoint_to_cpu
        )
    if not getattr(distributed_utils._broadcast_object_slow, "_hgkd_guarded", False):
        distributed_utils._broadcast_object_slow = _guard_broadcast(
            distributed_utils._broadcast_object_slow
        )
    _installed = True


def load_checkpoint(path: str) -> dict:
    """Read a fairseq checkpoint to CPU through fairseq's own (guarded) loader."""
    from fairseq import checkpoint_utils

    install()
    if not os.path.isfile(path):
        raise CheckpointReadError(f"checkpoint {path} does not exist or is not a file")
    if not os.access(path, os.R_OK):
        raise CheckpointReadError(f"checkpoint {path} is not readable (check its permissions)")
    return checkpoint_utils.load_checkpoint_to_cpu(path)
