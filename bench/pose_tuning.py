"""Per-sample accuracy of the pose tracking itself, for tuning it: every turning sample of the given
posetraj-synth suites goes through ``benchmark.pose_tracking.track_poses`` (the default tracker) on the
ground-truth video and on the perturbed oracle's frames (``benchmark.perturb``: the same noise, blur and
deterministic H.264 encoding as ``bench/pose_accuracy.py``, decoded again), and the mean rotation error
against the true pose over frames 1.. is printed per sample (a failed frame counts as 180 degrees), with
the mean over samples and per suite. ``--set`` overrides fields of ``PoseTrackingConfig`` (``fit.`` for
``PoseFitConfig``), so that a change can be measured before it becomes a default:

    .venv/bin/python bench/pose_tuning.py suites/s7301 suites/s7302 --set fit.tilt_prior=300.0 \
        --set "hypothesis_angles_deg=(-30.0, 30.0)" [--only oracle] [--jobs 2]

Unlike ``bench/pose_accuracy.py`` (the harness's own scoring of four models, the figures quoted in
docs/benchmark.md), this skips the harness: no cache, no static/translate baselines, only the turning
samples; the per-frame judging differs slightly (all frames 1.. count here).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def parse_overrides(items: list[str]):
    """A PoseTrackingConfig with ``key=python-literal`` overrides (``fit.key`` for its PoseFitConfig)."""
    from benchmark.pose_tracking import PoseTrackingConfig

    config = PoseTrackingConfig()
    fit, top = {}, {}
    for item in items:
        key, _, value = item.partition("=")
        if not _:
            raise SystemExit(f"error: --set expects key=value, got {item!r}")
        (fit if key.startswith("fit.") else top)[key.removeprefix("fit.")] = ast.literal_eval(value)
    return replace(config, fit=replace(config.fit, **fit), **top)


def perturbed_frames(sample, frames):
    """The perturbed oracle's frames of ``sample``, as ``write_perturbed_oracle`` writes them, decoded."""
    from benchmark.perturb import write_perturbed_video
    from common.video import read_video

    with tempfile.TemporaryDirectory(prefix="pose-tuning-") as tmp:
        return read_video(write_perturbed_video(Path(tmp) / f"{sample.id}.mp4", sample, frames))


def score_suite(suite_path: str, overrides: list[str], kinds: tuple[str, ...]) -> list[dict]:
    import cv2
    import numpy as np

    from benchmark.metrics.pose import geodesic_deg
    from benchmark.pose_tracking import track_poses
    from benchmark.scoring import POSE_INPUT_KEYS, pose_inputs
    from benchmark.suite import load_suite
    from benchmark.trackers import create_tracker, default_tracker_name

    cv2.setNumThreads(1)
    config = parse_overrides(overrides)
    tracker = create_tracker(default_tracker_name())
    rows = []
    for sample in load_suite(suite_path).samples:
        if not sample.rotational:
            continue
        ann = sample.ground_truth(*POSE_INPUT_KEYS)
        inputs = pose_inputs(sample, ann)
        true = ann["cam_w2c"][:, :3, :3] @ ann["obj_to_world"][:, :3, :3]
        frames = sample.reference_frames()
        row = {"suite": Path(suite_path).name, "id": sample.id, "family": sample.family,
               "max_turn_deg_per_frame": float(geodesic_deg(true[1:], true[:-1]).max())}
        for kind in kinds:
            video = frames if kind == "oracle" else perturbed_frames(sample, frames)
            tick = time.perf_counter()
            rot, _, ok = track_poses(tracker, video, inputs, config)
            error = np.where(ok, geodesic_deg(rot, true), 180.0)[1:]
            row[kind] = float(error.mean())
            row[f"{kind}_s"] = time.perf_counter() - tick
        sample.release()
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suites", nargs="+")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--only", choices=("oracle", "perturbed"), help="score one of the two videos only")
    parser.add_argument("--jobs", type=int, default=1, help="suites scored in parallel processes")
    args = parser.parse_args()
    parse_overrides(args.overrides)  # fail early on a bad override
    kinds = (args.only,) if args.only else ("oracle", "perturbed")
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = [row for part in pool.map(score_suite, args.suites, [args.overrides] * len(args.suites),
                                         [kinds] * len(args.suites)) for row in part]
    for kind in kinds:
        values = [row[kind] for row in rows]
        by_suite = defaultdict(list)
        for row in rows:
            by_suite[row["suite"]].append(row[kind])
        means = {suite: sum(v) / len(v) for suite, v in by_suite.items()}
        print(f"{kind}: mean {sum(values) / len(values):.2f} deg over {len(values)} turning samples; "
              f"{sum(v > 5 for v in values)} samples and {sum(m > 5 for m in means.values())} of {len(means)} suites "
              f"above 5; per suite " + ", ".join(f"{s} {m:.2f}" for s, m in means.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
