"""Seconds per clip of the point trackers: 14 frames at 576x320, 100 and 1,000 query points.

Trackers: ``lk`` and our CoTracker3 (offline and online, deterministic random weights: the same cost as
the official ones). With ``--upstream PATH`` (a checkout of facebookresearch/co-tracker, never part of
this repository) the upstream predictor runs on the same video, queries and weights side by side, and
the largest track difference between the two is printed too. The script runs without it.

Run from the repository root::

    .venv/bin/python bench/tracker_speed.py                      # LK + ours, CPU, 1 thread
    .venv/bin/python bench/tracker_speed.py --upstream /path/to/co-tracker --points 100
    .venv/bin/python bench/tracker_speed.py --device cuda --threads 16 --dtype bfloat16

Times: wall seconds and process CPU seconds (user + system) per clip; on a shared machine CPU seconds
are the steadier number. Results and commands are recorded in docs/performance.md (## Trackers).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _timed(fn, repeats: int) -> tuple[float, float, object]:
    import torch

    best_wall, best_cpu, result = float("inf"), float("inf"), None
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu, result


def _queries(count: int, height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xy = np.stack([rng.uniform(0, width - 1, count), rng.uniform(0, height - 1, count)], axis=1)
    return np.concatenate([np.zeros((count, 1)), xy], axis=1).astype(np.float32)


def _upstream_predictor(upstream: Path, online: bool, state: dict, workdir: Path, device: str):
    """The upstream predictor (offline API; online model = its sliding-window evaluation path)."""
    import torch

    if str(upstream) not in sys.path:
        sys.path.insert(0, str(upstream))
    from cotracker.predictor import CoTrackerPredictor

    path = workdir / ("scaled_online.pth" if online else "scaled_offline.pth")
    torch.save(state, path)
    predictor = CoTrackerPredictor(checkpoint=str(path), offline=not online, window_len=16 if online else 60)
    path.unlink()
    return predictor.to(device).eval()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=14)
    parser.add_argument("--width", type=int, default=576)
    parser.add_argument("--height", type=int, default=320)
    parser.add_argument("--points", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--variants", nargs="+", default=["offline", "online"], choices=["offline", "online"])
    parser.add_argument("--skip-lk", action="store_true")
    parser.add_argument("--upstream", type=Path, help="checkout of facebookresearch/co-tracker (its repository root)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from benchmark.trackers import create_tracker
    from benchmark.trackers.cotracker3.checkpoint import deterministic_state_dict
    from benchmark.trackers.synthetic import moving_patch_video

    video = moving_patch_video(num_frames=args.frames, height=args.height, width=args.width, num_points=2).video
    rows: list[dict] = []

    def report(row: dict) -> None:
        rows.append(row)
        extra = f"  max |ours - upstream| {row['max_track_diff_px']:.2e} px" if "max_track_diff_px" in row else ""
        print(f"{row['tracker']:<28} {row['points']:>5} pts  {row['wall_s']:8.2f} s wall  {row['cpu_s']:8.2f} s cpu{extra}", flush=True)

    print(f"{args.frames} frames {args.width}x{args.height}, device {args.device}, {args.threads} thread(s), torch {torch.__version__}")
    for count in args.points:
        queries = _queries(count, args.height, args.width, seed=count)
        if not args.skip_lk:
            lk = create_tracker("lk")
            wall, cpu, _ = _timed(lambda: lk.track(video, queries), args.repeats)
            report({"tracker": "lk", "points": count, "wall_s": wall, "cpu_s": cpu})
        for variant in args.variants:
            name = f"cotracker3-{variant}"
            ours = create_tracker(name, random_seed=0, device=args.device, dtype=args.dtype)
            wall, cpu, result = _timed(lambda: ours.track(video, queries), args.repeats)
            report({"tracker": f"{name} (ours)", "points": count, "wall_s": wall, "cpu_s": cpu})
            if args.upstream is None:
                continue
            state = deterministic_state_dict(ours.model, 0)
            with tempfile.TemporaryDirectory() as workdir:
                upstream = _upstream_predictor(args.upstream, variant == "online", state, Path(workdir), args.device)
            video_t = torch.from_numpy(video).permute(0, 3, 1, 2)[None].float().to(args.device)
            queries_t = torch.from_numpy(queries)[None].to(args.device)
            autocast = torch.autocast(video_t.device.type, dtype=getattr(torch, args.dtype), enabled=args.dtype != "float32")

            def run_upstream():
                with autocast:
                    return upstream(video_t, queries=queries_t)

            wall, cpu, (tracks, _) = _timed(run_upstream, args.repeats)
            diff = float(np.abs(tracks[0].float().cpu().numpy() - result.tracks).max())
            report({"tracker": f"{name} (upstream)", "points": count, "wall_s": wall, "cpu_s": cpu, "max_track_diff_px": diff})
    if args.json:
        payload = {"frames": args.frames, "width": args.width, "height": args.height, "device": args.device,
                   "dtype": args.dtype, "threads": args.threads, "torch": torch.__version__, "rows": rows}
        tmp = args.json.with_name(f".{args.json.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(payload, indent=2) + "\n")
        tmp.replace(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
