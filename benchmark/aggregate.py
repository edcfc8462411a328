"""Suite-level numbers from per-sample results rows: ObjMC pooled as the field pools it, the rest averaged,
overall, per group (rotational / translation-only) and per trajectory family, each with the number of
samples it rests on and a 95% bootstrap confidence interval over samples."""

from __future__ import annotations

import math

import numpy as np

TRAJECTORY_KEYS = ("objmc", "objmc_norm", "ade", "fde", "ade_norm", "fde_norm", "within_5px", "within_10px",
                   "within_20px", "conditioning_objmc", "conditioning_ade")
POSE_KEYS = ("rotation_error_deg", "heading_error_deg", "box_corner_error", "box_corner_error_norm",
             "pose_fail_rate")
FIDELITY_KEYS = ("psnr", "ssim", "lpips")
# direction of "better" for every aggregated metric (used by the leaderboard)
HIGHER_IS_BETTER = {"within_5px", "within_10px", "within_20px", "psnr", "ssim"}
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def _valid(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def bootstrap_ci(values: np.ndarray, weights: np.ndarray | None = None, level: float = 0.95) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean of ``values`` over samples (of ``sum(values) / sum(weights)``
    when ``weights`` are given: pooled ObjMC), with a fixed seed; None for fewer than 2 samples."""
    n = len(values)
    if n < 2:
        return None
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    draws = rng.integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))
    if weights is None:
        stats = values[draws].mean(axis=1)
    else:
        stats = values[draws].sum(axis=1) / np.maximum(weights[draws].sum(axis=1), 1e-12)
    low, high = np.percentile(stats, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def aggregate(rows: list[dict]) -> dict:
    """Suite-level numbers: ObjMC pooled as the field pools it, others averaged over the scored rows (the
    pose metrics over failed rows too, which count as failed in every frame). ``n`` and ``ci95`` give,
    per metric, the samples it rests on and its bootstrap interval."""
    ok = [r for r in rows if r["status"] == "ok"]
    out: dict = {"num_samples": len(ok), "n": {}, "ci95": {}}
    if ok:
        sums = np.array([r["objmc_sum"] for r in ok], float)
        counts = np.array([r["objmc_count"] for r in ok], float)
        out["objmc"] = float(sums.sum() / counts.sum())
        out["n"]["objmc"] = len(ok)
        out["ci95"]["objmc"] = bootstrap_ci(sums, counts)
    for key in ("objmc_per_sample_mean",) + TRAJECTORY_KEYS[1:] + POSE_KEYS + FIDELITY_KEYS:
        source = "objmc" if key == "objmc_per_sample_mean" else key
        # failed samples carry failed pose values (scoring.sample_row): they count in the pose metrics
        pool = rows if key in POSE_KEYS else ok
        values = np.array([r.get(source) for r in pool if _valid(r.get(source))], float)
        if values.size:
            out[key] = float(values.mean())
            out["n"][key] = int(values.size)
            out["ci95"][key] = bootstrap_ci(values)
    return out


def summarize(rows: list[dict]) -> dict:
    groups: dict[str, dict] = {"overall": aggregate(rows)}
    if any(r.get("rotational") is not None for r in rows):
        groups["rotational"] = aggregate([r for r in rows if r.get("rotational")])
        groups["translation_only"] = aggregate([r for r in rows if r.get("rotational") is False])
    by_family = {fam: aggregate([r for r in rows if r["family"] == fam]) for fam in sorted({r["family"] for r in rows})}
    return {"groups": groups, "by_family": by_family}
