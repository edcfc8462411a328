"""Side-by-side CPU time of one tracker in two source trees (e.g. before and after a change).

The other tree is any checkout or export of this repository (``git archive <commit> benchmark | tar -x -C
DIR``); both trackers run alternately in one process on the same synthetic videos (a blurred random
texture sliding 1-2 px per frame), and their tracks are compared.

    .venv/bin/python bench/tracker_compare.py --other-tree /tmp/old [--tracker lk] [--repeats 7] [--json]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parent.parent
CASES = ((128, 192, 24, 64), (192, 288, 48, 64), (320, 576, 14, 100))  # (H, W, T, points)


def _tracker_from(root: Path, name: str):
    """``create_tracker(name)`` of the ``benchmark`` package found under ``root``."""
    for module in [m for m in sys.modules if m == "benchmark" or m.startswith("benchmark.")]:
        del sys.modules[module]
    sys.path.insert(0, str(root))
    try:
        return importlib.import_module("benchmark.trackers").create_tracker(name)
    finally:
        sys.path.remove(str(root))


def _video(rng: np.random.Generator, height: int, width: int, frames: int) -> np.ndarray:
    import cv2

    texture = rng.integers(0, 256, (height + frames, width + 2 * frames, 3), dtype=np.uint8)
    texture = cv2.GaussianBlur(texture, (0, 0), 2)
    return np.stack([texture[t:t + height, 2 * t:2 * t + width] for t in range(frames)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--other-tree", type=Path, required=True, help="folder holding the other benchmark/ package")
    parser.add_argument("--tracker", default="lk")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import cv2

    cv2.setNumThreads(1)
    if not (args.other_tree / "benchmark" / "trackers").is_dir():
        parser.error(f"{args.other_tree} holds no benchmark/trackers package")
    other, this = _tracker_from(args.other_tree, args.tracker), _tracker_from(REPO, args.tracker)
    rng = np.random.default_rng(0)
    rows = []
    for height, width, frames, points in CASES:
        video = _video(rng, height, width, frames)
        queries = np.c_[np.zeros(points), rng.uniform(10, width - 10, points),
                        rng.uniform(10, height - 10, points)].astype(np.float32)
        a, b = other.track(video, queries), this.track(video, queries)
        times: dict[str, list[float]] = {"other": [], "this": []}
        for _ in range(args.repeats):
            for label, tracker in (("other", other), ("this", this)):
                tick = time.process_time()
                tracker.track(video, queries)
                times[label].append(time.process_time() - tick)
        other_ms, this_ms = (1e3 * float(np.median(times[k])) for k in ("other", "this"))
        rows.append({"video": f"{width}x{height}x{frames}", "points": points, "other_ms": other_ms,
                     "this_ms": this_ms, "speedup": other_ms / this_ms,
                     "max_track_diff_px": float(np.abs(a.tracks - b.tracks).max()),
                     "visibility_equal": bool(np.array_equal(a.visibility, b.visibility))})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['video']}, {r['points']} points: other {r['other_ms']:.1f} ms, this {r['this_ms']:.1f} ms CPU "
                  f"per video (median of {args.repeats}): {r['speedup']:.2f}x; max track difference "
                  f"{r['max_track_diff_px']:.3g} px, visibility equal: {r['visibility_equal']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
