"""Suite-level numbers from per-sample results rows: ObjMC pooled as the field pools it, the rest averaged,
overall, per group (rotational / translation-only) and per trajectory family."""

from __future__ import annotations

import math

import numpy as np

TRAJECTORY_KEYS = ("objmc", "objmc_norm", "ade", "fde", "ade_norm", "fde_norm", "within_5px", "within_10px",
                   "within_20px", "conditioning_objmc", "conditioning_ade")
POSE_KEYS = ("rotation_error_deg", "heading_error_deg", "box_corner_error", "box_corner_error_norm",
             "pose_fail_rate", "rotation_error_abs_deg", "heading_error_abs_deg", "box_corner_error_abs")
FIDELITY_KEYS = ("psnr", "ssim", "lpips")
# direction of "better" for every aggregated metric (used by the leaderboard)
HIGHER_IS_BETTER = {"within_5px", "within_10px", "within_20px", "psnr", "ssim"}


def _mean(values: list) -> float | None:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(vals)) if vals else None


def aggregate(rows: list[dict]) -> dict:
    """Suite-level numbers over the scored rows: ObjMC pooled as the field pools it, others averaged."""
    ok = [r for r in rows if r["status"] == "ok"]
    out: dict = {"num_samples": len(ok)}
    if not ok:
        return out
    total = sum(r["objmc_sum"] for r in ok)
    count = sum(r["objmc_count"] for r in ok)
    out["objmc"] = total / count
    out["objmc_per_sample_mean"] = _mean([r["objmc"] for r in ok])
    for key in TRAJECTORY_KEYS[1:] + POSE_KEYS + FIDELITY_KEYS:
        value = _mean([r.get(key) for r in ok])
        if value is not None:
            out[key] = value
    return out


def summarize(rows: list[dict]) -> dict:
    groups: dict[str, dict] = {"overall": aggregate(rows)}
    if any(r.get("rotational") is not None for r in rows):
        groups["rotational"] = aggregate([r for r in rows if r.get("rotational")])
        groups["translation_only"] = aggregate([r for r in rows if r.get("rotational") is False])
    by_family = {fam: aggregate([r for r in rows if r["family"] == fam]) for fam in sorted({r["family"] for r in rows})}
    return {"groups": groups, "by_family": by_family}


