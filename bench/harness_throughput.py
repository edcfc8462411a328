"""Throughput of the benchmark harness: samples per minute for the full scoring of a 50-sample suite
with the LK tracker, and the share of wall time spent outside tracking.

The suite is made of synthetic clips (benchmark.synthetic_clips: a textured box, exact ground truth,
written in the clip format) instead of Blender renders, so that building it takes seconds; scoring
reads them exactly as it reads rendered clips. The model is the ``oracle`` baseline by default (its
"generation" is decoding the ground-truth video), so the time is the harness's own: validation,
tracking (the conditioning points and the pose points, on the generated and the ground-truth video),
PnP, metrics, cache and result files. A second run over the warm cache is reported too.

"Tracking" is the time inside the tracker's ``track()`` calls and nothing else; everything else in
the wall time of ``run_benchmark`` (decoding, hashing, PnP, metrics, cache and result files, imports
done on first use) counts as outside tracking. With the oracle, the generated video *is* the
ground-truth video, so the tracks and poses of the reference come from the cache entry made for the
generated video (one tracking pass per sample instead of two); ``--model translate`` scores a video
that differs from the ground truth (two passes).

``--tracker cotracker3-offline`` times the same scoring with CoTracker3: with the official checkpoint
named by POSETRAJ_COTRACKER3_CHECKPOINT, else with deterministic random weights (the same network and
FLOPs, meaningless tracks: a timing of the harness around the real default tracker, nothing more). With
random weights every point is reported visible (visibility threshold 0), so pose tracking re-seeds only
where the ground truth hides points, as it would with a tracker that follows them; random visibilities
would re-seed at almost every frame and inflate the tracking time.

    .venv/bin/python bench/harness_throughput.py [--samples 50] [--width 192 --height 128 --frames 24]
                                                 [--model oracle] [--tracker lk] [--objmc-grid N]
                                                 [--workers 1 2] [--json]

``--compare-tree DIR --rounds N`` measures this tree against another checkout side by side: each
round runs the same command (in a fresh process, cold cache) with DIR's own copy of this script and
code, then with this tree's, and the seconds per sample of both and their ratio are reported per round
(wall and the child process's CPU time, which a shared machine disturbs less).

    git worktree add /tmp/before HEAD   # or: mkdir /tmp/before && git archive HEAD | tar -x -C /tmp/before
    .venv/bin/python bench/harness_throughput.py --width 288 --height 192 --frames 32 --samples 20 \
        --compare-tree /tmp/before --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--width", type=int, default=192)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--model", default="oracle", choices=("oracle", "static", "translate"))
    parser.add_argument("--tracker", default="lk", choices=("lk", "cotracker3-offline"),
                        help="cotracker3-offline: the official checkpoint when configured, else random weights")
    parser.add_argument("--workers", type=int, nargs="+", default=[1],
                        help="scoring processes; several values are run side by side on the same suite")
    parser.add_argument("--objmc-grid", type=int, default=0, metavar="N",
                        help="track the published protocol's N x N grid (bench run --objmc-grid); 0: direct queries")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--compare-tree", type=Path, metavar="DIR",
                        help="another checkout to measure side by side with this one (see above)")
    parser.add_argument("--rounds", type=int, default=3, help="alternations with --compare-tree")
    args = parser.parse_args()
    if args.compare_tree is not None:
        return compare(args)

    import cv2

    cv2.setNumThreads(1)
    from benchmark.harness import RunConfig, run_benchmark
    from benchmark.synthetic_clips import SyntheticClipConfig, build_synthetic_suite
    from benchmark.trackers import configured_checkpoint

    tracker_config = {}
    if args.tracker != "lk" and configured_checkpoint(args.tracker) is None:
        tracker_config = {"random_seed": 0, "visibility_threshold": 0.0}

    with tempfile.TemporaryDirectory(prefix="bench-harness-") as tmp:
        root = Path(tmp)
        tick = time.perf_counter()
        base = replace(SyntheticClipConfig(), width=args.width, height=args.height, num_frames=args.frames)
        suite = build_synthetic_suite(root, args.samples, base=base)
        build_s = time.perf_counter() - tick
        runs = {}
        for workers in args.workers:  # each with its own cache, so that "cold" is cold
            for cache in ("cold_cache", "warm_cache"):
                label = f"{workers} worker{'s' if workers > 1 else ''}, {cache}"
                tick = time.perf_counter()
                summary = run_benchmark(RunConfig(
                    suite=suite.path, model=args.model, out=root / "results" / label, tracker=args.tracker,
                    tracker_config=tracker_config,
                    cache_dir=root / f"cache-{workers}", progress=False, objmc_grid=args.objmc_grid, workers=workers))
                wall = time.perf_counter() - tick
                timing = summary["timing"]
                track = timing["track_s"]
                parts = {k: timing[k] for k in ("generate_s", "reference_s", "fidelity_s", "pose_s")}
                runs[label] = {"workers": workers, "wall_s": wall, "track_s": track,
                               # with several processes the parts add up the processes' times, not wall time
                               "outside_tracking_share": (wall - track) / wall if workers == 1 else None,
                               "samples_per_minute": 60.0 * args.samples / wall, "failed": summary["num_failed"],
                               "breakdown_s": parts | ({"rest_s": wall - track - sum(parts.values())}
                                                       if workers == 1 else {})}
    result = {"samples": args.samples, "model": args.model, "objmc_grid": args.objmc_grid, "tracker": args.tracker,
              "tracker_weights": None if args.tracker == "lk" else "random (timing only)" if tracker_config else "checkpoint",
              "size": f"{args.width}x{args.height}",
              "frames": args.frames, "suite_build_s": build_s, "cpu_count": os.cpu_count(), "runs": runs}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.samples} synthetic samples {args.width}x{args.height}x{args.frames}, model {args.model}, "
              f"tracker {args.tracker}{' (random weights)' if tracker_config else ''} "
              f"(suite built in {build_s:.1f} s)")
        for label, r in runs.items():
            share = r["outside_tracking_share"]
            print(f"  {label}: {r['samples_per_minute']:.1f} samples/min, {r['wall_s']:.1f} s wall, "
                  f"tracking {r['track_s']:.1f} s" + (f", outside tracking {100 * share:.1f}%" if share is not None
                                                      else " (summed over processes)") + " ("
                  + ", ".join(f"{k[:-2]} {v:.1f} s" for k, v in r["breakdown_s"].items()) + ")")
    return 0


def _child_run(tree: Path, argv: list[str]) -> tuple[dict, float]:
    """One cold-cache measurement in a new process with ``tree``'s script and code: (its JSON, CPU seconds)."""
    import resource
    import subprocess

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, str(tree / "bench" / "harness_throughput.py"), *argv, "--json"],
                         cwd=tree, env=env, capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return json.loads(out[out.index("{"):]), cpu


def compare(args: argparse.Namespace) -> int:
    """Alternate cold-cache runs of another tree and this one; report seconds per sample and ratios."""
    argv = ["--samples", str(args.samples), "--width", str(args.width), "--height", str(args.height),
            "--frames", str(args.frames), "--model", args.model, "--tracker", args.tracker]
    here = Path(__file__).resolve().parent.parent
    rows = []
    for round_ in range(args.rounds):
        measured = {}
        for name, tree in (("other", args.compare_tree.resolve()), ("this", here)):
            result, cpu = _child_run(tree, argv)
            cold = next(r for label, r in result["runs"].items() if "cold" in label)
            # the child's CPU time covers building the suite and the warm run too; wall is the cold run only
            measured[name] = {"wall_per_sample_s": cold["wall_s"] / args.samples, "process_cpu_s": cpu}
        rows.append(measured)
        ratio = measured["this"]["wall_per_sample_s"] / measured["other"]["wall_per_sample_s"]
        cpu_ratio = measured["this"]["process_cpu_s"] / measured["other"]["process_cpu_s"]
        print(f"round {round_ + 1}: other {measured['other']['wall_per_sample_s']:.3f} s/sample, this "
              f"{measured['this']['wall_per_sample_s']:.3f} s/sample (cold run wall): {ratio:.2f}x; "
              f"whole child process CPU {measured['other']['process_cpu_s']:.1f} s vs "
              f"{measured['this']['process_cpu_s']:.1f} s: {cpu_ratio:.2f}x", flush=True)
    ratios = sorted(r["this"]["wall_per_sample_s"] / r["other"]["wall_per_sample_s"] for r in rows)
    print(f"median wall ratio {ratios[len(ratios) // 2]:.2f}x over {len(rows)} rounds "
          f"({args.samples} samples {args.width}x{args.height}x{args.frames}, model {args.model}, tracker {args.tracker})")
    if args.json:
        print(json.dumps({"rounds": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
