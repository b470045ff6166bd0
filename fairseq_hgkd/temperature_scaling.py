"""Post-hoc temperature scaling: the temperature T that minimizes a model's NLL on held-out data.

With beta = 1/T, the per-token NLL(beta) = -beta*z_y + logsumexp(beta*z) is convex in beta, with
dNLL/dbeta = E_p[z] - z_y and d2NLL/dbeta2 = Var_p[z] under p = softmax(beta*z). Summing these
over a dataset, batch by batch, gives exact Newton steps without keeping any logits in memory.
"""
import torch


def newton_terms(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                 beta: float) -> torch.Tensor:
    """[NLL sum, gradient sum, second-derivative sum] over the masked tokens, at beta = 1/T."""
    with torch.no_grad():
        z = (logits if logits.dtype == torch.float64 else logits.float())[mask]  # (N, V)
        y = target[mask]
        lprobs = torch.log_softmax(beta * z, dim=-1)
        p = lprobs.exp()
        z_gold = z.gather(-1, y.unsqueeze(-1)).squeeze(-1)
        mean_z = (p * z).sum(-1)
        var_z = (p * (z - mean_z.unsqueeze(-1)) ** 2).sum(-1)
        nll = -lprobs.gather(-1, y.unsqueeze(-1)).squeeze(-1)
        return torch.stack([nll.sum(), (mean_z - z_gold).sum(), var_z.sum()]).double().cpu()


def newton_update(beta: float, terms: torch.Tensor, min_beta: float = 1e-3) -> float:
    """One safeguarded Newton step on beta (kept positive)."""
    _, grad, hess = (float(t) for t in terms)
    if hess <= 0:
        return beta
    new_beta = beta - grad / hess
    return max(new_beta, beta / 4, min_beta)
