"""Render throughput, per-clip overhead, memory over many clips, and the paper preset's quality/cost.

Run from the repository root with the project's environment, e.g.::

    .venv/bin/python bench/render_throughput.py --part speed --frames 8
    .venv/bin/python bench/render_throughput.py --part memory --clips 50
    .venv/bin/python bench/render_throughput.py --part quality --quality-size 360 240 --quality-frames 2
    .venv/bin/python bench/render_throughput.py --part quality --quality-look posetraj10k

Each part prints a table and, with ``--json FILE``, writes the numbers. CPU-seconds are user+system time
of this process (all render threads), which changes little when other processes share the machine; wall
times on a shared machine do not mean much. Results and the commands that produced them are recorded in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.clip_format import load_clip  # noqa: E402
from render.pipeline import render_clip  # noqa: E402
from render.spec import PRESETS, make_clip_spec  # noqa: E402


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def speed(frames: int, presets: list[str], asset: str, out: Path) -> list[dict]:
    """CPU-seconds per frame and per clip for each preset, and the share of a clip outside path tracing."""
    rows = []
    render_clip(make_clip_spec(asset, "line", num_frames=2, width=64, height=48, samples=1, seed=99), out / "warmup")
    for preset in presets:
        spec = make_clip_spec(asset, "half_circle", preset=preset, num_frames=frames, seed=0)
        cpu_before, wall_before = _cpu(), time.perf_counter()
        meta = load_clip(render_clip(spec, out / preset)).meta
        cpu_total, wall_total = _cpu() - cpu_before, time.perf_counter() - wall_before
        render_cpu, plate_cpu = meta["timing"]["render_cpu_s"], meta["timing"]["plate_cpu_s"]
        per_frame = (render_cpu - plate_cpu) / frames  # a plate is rendered once per clip
        rows.append({
            "preset": preset, "size": f"{spec.settings.width}x{spec.settings.height}", "samples": spec.settings.samples,
            "frames": frames, "plate_cpu_s": plate_cpu, "cpu_s_per_frame": per_frame, "cpu_s_per_clip": cpu_total,
            "cpu_s_per_32_frame_clip": cpu_total - render_cpu + plate_cpu + per_frame * 32,
            "wall_s_per_clip": wall_total, "non_render_share": 1.0 - render_cpu / cpu_total,
        })
    return rows


def memory(clips: int, asset_names: list[str], out: Path) -> dict:
    """RSS after each of ``clips`` tiny clips rendered in this one process."""
    rss = []
    for index in range(clips):
        asset = f"builtin:{asset_names[index % len(asset_names)]}"
        spec = make_clip_spec(asset, "half_circle", num_frames=2, width=64, height=48, samples=1, seed=index)
        render_clip(spec, out / "memory")
        rss.append(_rss_mb())
    settled = rss[min(4, len(rss) - 1)]
    return {"clips": clips, "rss_mb_after_clip_1": rss[0], "rss_mb_after_clip_5": settled,
            "rss_mb_final": rss[-1], "growth_mb_after_clip_5": rss[-1] - settled, "rss_mb": rss}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


# Scene-affecting settings of the PoseTraj-10k renderer besides samples and denoising
# (shared/reference/posetraj_original.md §7.1): no pixel filtering, one diffuse/glossy bounce.
POSETRAJ10K_LOOK = dict(filter_width=0.01, max_bounces=12, diffuse_bounces=1, glossy_bounces=1,
                        transparent_bounces=3, transmission_bounces=3)


def quality(size: tuple[int, int], frames: int, reference_samples: int, asset: str, out: Path,
            look: str = "posetraj", reference_seed: int = 1) -> list[dict]:
    """PSNR against a high-sample render of the same frames, and CPU cost, of several settings.

    ``look``: ``posetraj`` renders every row with our pixel filter and bounces (only samples and the
    denoiser differ); ``posetraj10k`` with the original renderer's (filter width 0.01 px, 1 bounce).
    The reference uses Cycles seed ``reference_seed`` so that its noise is independent of every row's
    (all rows use seed 0; a reference with seed 0 would share its first samples with them).
    """
    paper = PRESETS["paper"].settings
    scene = POSETRAJ10K_LOOK if look == "posetraj10k" else {}
    original = replace(paper, samples=128, denoising_prefilter="ACCURATE", adaptive_sampling=False, plate_samples=0,
                       **scene)
    candidates = {
        f"reference ({reference_samples} spp, no denoise)": replace(
            original, samples=reference_samples, denoise=False, cycles_seed=reference_seed),
        "original (128 spp, OIDN ACCURATE)": original,
        "paper preset": replace(paper, **scene),
        "paper preset without its plate": replace(paper, plate_samples=0, **scene),
        "adaptive 0.02 + FAST prefilter": replace(original, adaptive_sampling=True, adaptive_threshold=0.02,
                                                  denoising_prefilter="FAST"),
        "64 spp + FAST prefilter": replace(original, samples=64, denoising_prefilter="FAST"),
        "48 spp + FAST prefilter": replace(original, samples=48, denoising_prefilter="FAST"),
        "32 spp + ACCURATE prefilter": replace(original, samples=32),
    }
    base = make_clip_spec(asset, "half_circle", preset="paper", num_frames=frames, seed=0, write_png=True)
    results, reference, original_cpu = [], None, None
    clip_frames = PRESETS["paper"].num_frames
    for label, settings in candidates.items():
        settings = replace(settings, width=size[0], height=size[1])
        spec = replace(base, settings=settings, clip_id=f"quality-{len(results)}")
        before = _cpu()
        clip = load_clip(render_clip(spec, out / "quality"))
        cpu = _cpu() - before
        images = clip.frames()
        # A plate is rendered once per clip: count it as in a clip of the paper preset's length.
        plate_cpu = clip.meta["timing"]["plate_cpu_s"]
        per_frame = (clip.meta["timing"]["render_cpu_s"] - plate_cpu) / frames + plate_cpu / clip_frames
        if reference is None:
            reference = images
        elif original_cpu is None:
            original_cpu = per_frame
        results.append({
            "settings": label, "look": look, "size": f"{size[0]}x{size[1]}", "frames": frames,
            "plate_cpu_s": plate_cpu,
            "plate_area_fraction": clip.meta["render"]["background_plate"].get("area_fraction"),
            "cpu_s_per_frame": per_frame, "relative_cpu": per_frame / original_cpu if original_cpu else None,
            "total_cpu_s": cpu, "psnr_db": _psnr(images, reference) if results else float("inf"),
        })
    return results


def _print_table(rows: list[dict]) -> None:
    keys = [k for k in rows[0] if k != "rss_mb"]
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(f"{row[k]:.3f}" if isinstance(row[k], float) else str(row[k]) for k in keys))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("speed", "memory", "quality", "all"), default="all")
    parser.add_argument("--frames", type=int, default=8, help="frames per clip for the speed part")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--clips", type=int, default=50, help="clips for the memory part")
    parser.add_argument("--quality-size", type=int, nargs=2, default=(360, 240), metavar=("W", "H"))
    parser.add_argument("--quality-frames", type=int, default=2)
    parser.add_argument("--reference-samples", type=int, default=1024)
    parser.add_argument("--reference-seed", type=int, default=1,
                        help="Cycles seed of the reference (the rows use 0; the same seed would correlate the noise)")
    parser.add_argument("--quality-look", choices=("posetraj", "posetraj10k"), default="posetraj",
                        help="pixel filter and bounces of every quality row: ours, or the original renderer's")
    parser.add_argument("--asset", default="builtin:car")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="posetraj-bench-") as tmp:
        out = Path(tmp)
        if args.part in ("speed", "all"):
            results["speed"] = speed(args.frames, args.presets, args.asset, out)
            _print_table(results["speed"])
        if args.part in ("memory", "all"):
            results["memory"] = memory(args.clips, ["car", "boat", "plane", "chair", "animal"], out)
            _print_table([results["memory"]])
        if args.part in ("quality", "all"):
            results["quality"] = quality(tuple(args.quality_size), args.quality_frames, args.reference_samples,
                                         args.asset, out, args.quality_look, args.reference_seed)
            _print_table(results["quality"])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
