"""Teacher-forced evaluation of a checkpoint on a data-bin subset: NLL, accuracy, ECE/MCE, and the
temperature that minimizes NLL. Uses the same calibration code as the training metrics."""
import logging
import math
import os
import sys
from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

import torch

from fairseq_hgkd import safe_checkpoint
from fairseq_hgkd.calibration import bin_statistics, calibration_errors, confidence_and_prediction
from fairseq_hgkd.errors import HgkdError
from fairseq_hgkd.temperature_scaling import newton_terms, newton_update

logger = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    task: object
    model: torch.nn.Module
    device: torch.device


def load_model(data_bin: str, checkpoint: str, cpu: bool = False) -> LoadedModel:
    """Rebuild a checkpoint's model for `data_bin` (never its teacher) in evaluation mode."""
    from fairseq import checkpoint_utils

    safe_checkpoint.install()
    if not os.path.isfile(checkpoint):
        raise HgkdError(f"checkpoint {checkpoint} does not exist")
    overrides = {"data": data_bin, "teacher_path": None}
    models, _cfg, task = checkpoint_utils.load_model_ensemble_and_task([checkpoint], overrides)
    model = models[0]
    device = torch.device("cuda" if torch.cuda.is_available() and not cpu else "cpu")
    model.to(device).eval()
    return LoadedModel(task, model, device)


def batches(loaded: LoadedModel, subset: str, max_tokens: int = 4000) -> Iterator[dict]:
    from fairseq import utils

    task = loaded.task
    try:
        task.load_dataset(subset)
    except FileNotFoundError as error:
        raise HgkdError(f"subset {subset!r} not found in the data-bin ({error})") from None
    iterator = task.get_batch_iterator(
        task.dataset(subset), max_tokens=max_tokens,
        max_positions=utils.resolve_max_positions(task.max_positions(), loaded.model.max_positions()),
        ignore_invalid_inputs=False, seed=1,
    ).next_epoch_itr(shuffle=False)
    for sample in iterator:
        if "net_input" in sample:
            yield utils.move_to_cuda(sample, loaded.device) if loaded.device.type == "cuda" else sample


def _logits_target_mask(loaded: LoadedModel, sample) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    net_output = loaded.model(**sample["net_input"])
    target = loaded.model.get_targets(sample, net_output)
    return net_output[0].float(), target, target.ne(loaded.task.target_dictionary.pad())


@torch.no_grad()
def evaluate(loaded: LoadedModel, subset: str, max_tokens: int = 4000,
             temperature: float = 1.0) -> dict:
    """NLL (nats per target token), token accuracy, ECE and MCE (%) and the bin statistics."""
    nll_sum, tokens = 0.0, 0
    stats = None
    for sample in batches(loaded, subset, max_tokens):
        logits, target, mask = _logits_target_mask(loaded, sample)
        lprobs = torch.log_softmax(logits / temperature, dim=-1)
        nll_sum += float(-lprobs.gather(-1, target.unsqueeze(-1)).squeeze(-1)[mask].sum())
        tokens += int(mask.sum())
        confidence, prediction = confidence_and_prediction(lprobs)
        batch_stats = bin_statistics(confidence, prediction.eq(target), mask).cpu()
        stats = batch_stats if stats is None else stats + batch_stats
    if not tokens:
        raise HgkdError(f"subset {subset!r} has no target tokens")
    ece, mce = calibration_errors(stats)
    return {
        "nll": nll_sum / tokens,
        "accuracy": 100.0 * float(stats[2].sum()) / tokens,
        "ece": 100.0 * ece,
        "mce": 100.0 * mce,
        "tokens": tokens,
        "bins": stats.tolist(),
    }


@torch.no_grad()
def fit_temperature(loaded: LoadedModel, subset: str, max_tokens: int = 4000,
                    max_passes: int = 12, tolerance: float = 1e-4) -> dict:
    """Newton's method on beta = 1/T over the whole subset; each pass re-runs the model."""
    if getattr(loaded.model.decoder, "adaptive_softmax", None) is not None:
        raise HgkdError("temperature fitting needs a model without adaptive softmax")
    beta, history = 1.0, []
    for step in range(max_passes):
        terms = torch.zeros(3, dtype=torch.float64)
        tokens = 0
        for sample in batches(loaded, subset, max_tokens):
            logits, target, mask = _logits_target_mask(loaded, sample)
            terms += newton_terms(logits, target, mask, beta)
            tokens += int(mask.sum())
        history.append({"temperature": 1.0 / beta, "nll": float(terms[0]) / tokens})
        print(f"[temperature] pass {step + 1}: T={1.0 / beta:.4f} NLL={history[-1]['nll']:.4f}",
              file=sys.stderr, flush=True)
        new_beta = newton_update(beta, terms)
        if abs(new_beta - beta) <= tolerance * beta:
            break
        beta = new_beta
    best = min(history, key=lambda h: h["nll"])
    return {
        "temperature": best["temperature"],
        "nll_at_1": history[0]["nll"],
        "nll": best["nll"],
        "passes": len(history),
        "subset": subset,
    }


def finite_or_none(value: Optional[float]) -> Optional[float]:
    return value if value is not None and math.isfinite(value) else None
