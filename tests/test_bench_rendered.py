"""Acceptance on a small suite rendered by our renderer from built-in assets (Blender), through the
demo entry point: the baselines order as the metrics promise, and the demo writes what it reports."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posetraj.commands.demo import BASELINE_MODELS, run_demo

pytestmark = [pytest.mark.blender, pytest.mark.slow]

LOWER = ("objmc", "ade", "fde", "objmc_norm", "rotation_error_deg", "heading_error_deg", "box_corner_error")
HIGHER = ("within_5px", "within_10px", "within_20px")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    pytest.importorskip("bpy")
    out = tmp_path_factory.mktemp("demo")
    # 48 frames at 288x192 (the demo's defaults): the default tracker (LK) cannot follow rotations of
    # 16-47 degrees per frame (24 frames), nor the surface of objects only 30-40 px tall (192x128)
    summary = run_demo(out, num_samples=4, width=288, height=192, num_frames=48, progress=False, print_summary=False)
    results = {m: json.loads((out / "results" / m / "summary.json").read_text()) for m in BASELINE_MODELS}
    return out, summary, results


def test_rendered_suite_acceptance(demo):
    out, summary, results = demo
    assert summary["suite"]["num_samples"] == 4
    overall = {m: r["metrics"]["groups"]["overall"] for m, r in results.items()}
    rotational = {m: r["metrics"]["groups"]["rotational"] for m, r in results.items()}
    for baseline in ("static", "translate"):
        for key in LOWER:
            assert overall["oracle"][key] <= overall[baseline][key], (baseline, key)
        for key in HIGHER:
            assert overall["oracle"][key] >= overall[baseline][key], (baseline, key)
    assert overall["static"]["objmc"] > overall["translate"]["objmc"] > overall["oracle"]["objmc"]
    assert overall["translate"]["objmc"] < 0.5 * overall["static"]["objmc"]
    # against the true 3D pose the oracle's error is the estimator's own; translate, which never turns the
    # object, and static score about the rotation the object made. The estimator follows most turning
    # samples within 5 degrees, but not all: this suite's car figure-eight (48 frames, turning 24 degrees per
    # frame while seen from behind, 40 px tall) is lost half way (about 78 degrees; docs/benchmark.md)
    import pandas as pd

    oracle_rows = pd.read_parquet(out / "results" / "oracle" / "samples.parquet")
    turning = oracle_rows[oracle_rows["family"] != "line"]["rotation_error_deg"].to_numpy()
    assert len(turning) == 3 and float(np.median(turning)) <= 5.0, turning
    assert rotational["oracle"]["pose_fail_rate"] == 0.0
    for baseline in ("static", "translate"):
        assert rotational["oracle"]["rotation_error_deg"] <= 0.5 * rotational[baseline]["rotation_error_deg"]
    assert rotational["translate"]["rotation_error_deg"] > 30 and rotational["static"]["rotation_error_deg"] > 30
    for r in results.values():
        assert r["complete"] and r["tracker"]["tracker"] == "lk"


def test_demo_writes_what_it_reports(demo):
    out, summary, _ = demo
    from posetraj.commands.demo import format_summary

    text = format_summary(summary)
    assert summary["leaderboard_html"] in text and (out / "leaderboard" / "index.html").is_file()
    assert summary["suite"]["suite_version"] in (out / "leaderboard" / "leaderboard.md").read_text()
    assert json.loads((out / "demo_summary.json").read_text())["suite"] == summary["suite"]
    manifest = json.loads((out / "suite" / "suite.json").read_text())
    families = [s["family"] for s in manifest["samples"]]
    # the demo's turning families, then the translation-only control (a quarter of the samples)
    assert families == ["figure_eight", "half_circle", "s_curve", "line"]
    assert all(s["rotational"] == (s["family"] != "line") for s in manifest["samples"])
