"""Fréchet distance between Gaussian fits of feature sets: the formula behind FID and FVD."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FeatureStats:
    """Mean and covariance (unbiased, as numpy's ``np.cov``) of N feature vectors."""

    mu: np.ndarray
    sigma: np.ndarray
    count: int


def feature_stats(features: np.ndarray) -> FeatureStats:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors as an (N, D) array, got shape {features.shape}")
    if not np.isfinite(features).all():
        raise ValueError("features contain NaN or infinity")
    return FeatureStats(mu=features.mean(0), sigma=np.cov(features, rowvar=False), count=len(features))


def frechet_distance(a: FeatureStats, b: FeatureStats, eps: float = 1e-6) -> float:
    """‖μa − μb‖² + tr(Σa + Σb − 2 (Σa Σb)^½).

    When the product is singular, ``eps`` is added to both diagonals before the square root (as
    pytorch-fid does); a negligible imaginary part of the root is dropped.
    """
    import warnings

    from scipy import linalg

    diff = a.mu - b.mu
    with warnings.catch_warnings():  # a singular product is handled below, not reported
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(a.sigma @ b.sigma)
    if not np.isfinite(covmean).all():
        offset = np.eye(a.sigma.shape[0]) * eps
        covmean = linalg.sqrtm((a.sigma + offset) @ (b.sigma + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"imaginary component {np.max(np.abs(covmean.imag))} in the covariance square root")
        covmean = covmean.real
    return float(diff @ diff + np.trace(a.sigma) + np.trace(b.sigma) - 2.0 * np.trace(covmean))
