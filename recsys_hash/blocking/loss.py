"""The NLSH loss (Wang et al., SDM'24) on triplets (anchor p, match q, non-match r), radius R, c > 1:

    L = max(R, d(p, q)) - min(cR, d(p, r)) = relu(d(p, q) - R) + relu(cR - d(p, r)) - (c - 1) R

Two independent hinges: matches are pulled inside R, non-matches pushed beyond cR; neither term rewards a
triplet already on the right side of its own boundary. `nlsh_loss` returns the mean of the two hinges (the
paper's L plus the constant (c - 1) R, so a perfect triplet costs 0). d is the Euclidean distance.
"""
from __future__ import annotations

import torch


def check_radius(radius: float, c: float) -> None:
    if not radius > 0:
        raise ValueError(f"nlsh_loss: radius R must be > 0, got {radius!r}")
    if not c > 1:
        raise ValueError(f"nlsh_loss: c must be > 1 (non-matches beyond cR), got {c!r}")


def nlsh_loss(anchor: torch.Tensor, match: torch.Tensor, non_match: torch.Tensor, radius: float = 0.6,
              c: float = 1.5) -> torch.Tensor:
    """anchor / match / non_match: float [n, d] -> scalar mean over n of relu(d+ - R) + relu(cR - d-)."""
    check_radius(radius, c)
    if not anchor.shape == match.shape == non_match.shape or anchor.dim() != 2:
        raise ValueError(f"nlsh_loss: anchor, match and non_match must share one [n, d] shape, got "
                         f"{tuple(anchor.shape)}, {tuple(match.shape)}, {tuple(non_match.shape)}")
    d_pos = torch.linalg.vector_norm(anchor - match, dim=1)
    d_neg = torch.linalg.vector_norm(anchor - non_match, dim=1)
    return (torch.relu(d_pos - radius) + torch.relu(c * radius - d_neg)).mean()
