"""Frame-fidelity metrics against a ground-truth video: PSNR and SSIM (own implementations).

Videos are (T, H, W, 3) uint8. Frame 0, the given image, is not scored; scores are per-frame values
averaged over frames 1..T-1.
"""

from __future__ import annotations

import numpy as np

PSNR_CAP_DB = 100.0
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _check_pair(video: np.ndarray, reference: np.ndarray) -> None:
    if video.shape != reference.shape or video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f"expected two (T, H, W, 3) videos of equal shape, got {video.shape} and {reference.shape}")


def psnr_frames(video: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-frame PSNR in dB for 8-bit data, capped at 100 dB (identical frames)."""
    import cv2

    _check_pair(video, reference)
    pixels = float(np.prod(video.shape[1:]))
    mse = np.array([cv2.norm(v, r, cv2.NORM_L2SQR) / pixels for v, r in zip(video, reference)])
    floor = 255.0**2 * 10.0 ** (-PSNR_CAP_DB / 10.0)
    return 10.0 * np.log10(255.0**2 / np.maximum(mse, floor))


def ssim_image(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two (H, W, C) 8-bit images (Wang et al. 2004): Gaussian window σ = 1.5 truncated to
    11 × 11, symmetric (reflect) borders, population statistics, K1 = 0.01, K2 = 0.03, L = 255, mean
    over pixels and channels. Computed in float32; (co)variances use values shifted by −128, which
    keeps their cancellation error near 1e-6 of C2."""
    import cv2

    c1, c2 = (SSIM_K1 * 255.0) ** 2, (SSIM_K2 * 255.0) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)

    sa = a.astype(np.float32) - 128.0
    sb = b.astype(np.float32) - 128.0
    ma, mb = blur(sa), blur(sb)  # shifted means
    var_a = blur(sa * sa) - ma * ma
    var_b = blur(sb * sb) - mb * mb
    cov = blur(sa * sb) - ma * mb
    mu_a, mu_b = ma + 128.0, mb + 128.0
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    return float((num / den).mean(dtype=np.float64))


def image_metrics(video: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """PSNR and SSIM of frames 1..T-1 of ``video`` against ``reference``."""
    _check_pair(video, reference)
    psnr = psnr_frames(video[1:], reference[1:])
    ssim = [ssim_image(v, r) for v, r in zip(video[1:], reference[1:])]
    return {"psnr": float(psnr.mean()), "ssim": float(np.mean(ssim))}
