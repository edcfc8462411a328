"""Frame-fidelity metrics against a ground-truth video: PSNR and SSIM (own implementations).

Videos are (T, H, W, 3) uint8. Frame 0, the given image, is not scored; scores are per-frame values
averaged over frames 1..T-1. A frame identical to its reference has PSNR = the cap and SSIM = 1 by
definition; those values are returned without running SSIM's blurs.
"""

from __future__ import annotations

import numpy as np

IMAGE_METRICS_VERSION = 2  # part of the harness's cache key: bump whenever the computed values change
PSNR_CAP_DB = 100.0
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _check_pair(video: np.ndarray, reference: np.ndarray) -> None:
    if video.shape != reference.shape or video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f"expected two (T, H, W, 3) videos of equal shape, got {video.shape} and {reference.shape}")


def mse_frames(video: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-frame mean squared error over pixels and channels (exactly 0 for identical frames)."""
    import cv2

    _check_pair(video, reference)
    pixels = float(np.prod(video.shape[1:]))
    return np.array([cv2.norm(v, r, cv2.NORM_L2SQR) / pixels for v, r in zip(video, reference)])


def psnr_from_mse(mse: np.ndarray) -> np.ndarray:
    """PSNR in dB of 8-bit data from per-frame MSE, capped at 100 dB (identical frames)."""
    floor = 255.0**2 * 10.0 ** (-PSNR_CAP_DB / 10.0)
    return 10.0 * np.log10(255.0**2 / np.maximum(mse, floor))


def psnr_frames(video: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-frame PSNR in dB for 8-bit data, capped at 100 dB (identical frames)."""
    return psnr_from_mse(mse_frames(video, reference))


def ssim_image(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two (H, W, C) 8-bit images (Wang et al. 2004): Gaussian window σ = 1.5 truncated to
    11 × 11, symmetric (reflect) borders, population statistics, K1 = 0.01, K2 = 0.03, L = 255, mean
    over pixels and channels. Computed in float32 with in-place arithmetic; (co)variances use values
    shifted by −128, which keeps their cancellation error near 1e-6 of C2. Only the sum of the two
    variances enters SSIM, so it is one blur of (a² + b²): four Gaussian blurs per image pair."""
    import cv2

    c1, c2 = (SSIM_K1 * 255.0) ** 2, (SSIM_K2 * 255.0) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)

    sa = a.astype(np.float32)
    sa -= 128.0
    sb = b.astype(np.float32)
    sb -= 128.0
    ma, mb = blur(sa), blur(sb)  # shifted means
    cov = blur(sa * sb)
    cov -= ma * mb
    np.multiply(sa, sa, out=sa)
    np.multiply(sb, sb, out=sb)
    sa += sb
    var_sum = blur(sa)  # var_a + var_b once the squared means are subtracted
    var_sum -= ma * ma
    var_sum -= mb * mb
    ma += 128.0  # from here on: the means
    mb += 128.0
    num = ma * mb
    num *= 2.0
    num += c1
    cov *= 2.0
    cov += c2
    num *= cov  # (2 μa μb + C1)(2 σab + C2)
    np.multiply(ma, ma, out=ma)
    np.multiply(mb, mb, out=mb)
    ma += mb
    ma += c1
    var_sum += c2
    ma *= var_sum  # (μa² + μb² + C1)(σa² + σb² + C2)
    num /= ma
    return float(num.mean(dtype=np.float64))


def image_metrics(video: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """PSNR and SSIM of frames 1..T-1 of ``video`` against ``reference``; SSIM's blurs run only on
    frames that differ from their reference (an identical frame's SSIM is 1)."""
    mse = mse_frames(video[1:], reference[1:])
    ssim = [ssim_image(v, r) if err > 0 else 1.0 for v, r, err in zip(video[1:], reference[1:], mse)]
    return {"psnr": float(psnr_from_mse(mse).mean()), "ssim": float(np.mean(ssim))}
