"""Benchmark ``posetraj train``: training samples/s, data-loader samples/s and peak memory.

Runs the real trainer (``posetraj.training.loop.train``) on synthetic clips of the clip format
(``benchmark.synthetic_clips``: no Blender needed) with in-memory random SVD components, for several batch
settings side by side in one invocation, each in its own process (so peak memory is per setting):

* ``original``: the original PoseTraj's settings, per-process batch 1 with gradient accumulation 2;
* ``batch2`` / ``batch4`` ...: per-process batch B without accumulation (``--batches``).

Configs: ``tiny`` (the test model, 8 frames at 64x64, CPU, fp32) and ``real`` (the SVD img2vid layout with
random weights, 14 frames at 320x576 by default, fp16 mixed precision, gradient checkpointing; needs a GPU;
``--frames 25 --width 1024 --height 576`` for SVD-XT's native size). Training samples/s counts samples that
went through the optimiser, after ``--warmup`` steps; data-loader samples/s iterates the same loader alone;
peak memory is the CUDA allocator's peak on a GPU and the process's peak RSS on CPU.

    python bench/train_throughput.py --config tiny                       # CPU
    python bench/train_throughput.py --config real --batches 4 8         # GPU
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _components(config: str, device: str, frames: int):
    """Random SVD components: tiny (posetraj.tiny) or the real img2vid layout (built on ``device``)."""
    import torch

    if config == "tiny":
        from posetraj.tiny import tiny_svd_components

        parts = tiny_svd_components(num_frames=frames)
    else:
        from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler, UNetSpatioTemporalConditionModel
        from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

        from bench.model_step import REAL_CLIP_CONFIG, REAL_UNET_CONFIG, REAL_VAE_CONFIG
        from posetraj.tiny import SVD_SCHEDULER_CONFIG, svd_feature_extractor

        torch.manual_seed(0)
        with torch.device(device):
            unet = UNetSpatioTemporalConditionModel(**{**REAL_UNET_CONFIG, "num_frames": frames})
            vae = AutoencoderKLTemporalDecoder(**REAL_VAE_CONFIG)
            image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**REAL_CLIP_CONFIG))
        parts = {"unet": unet, "vae": vae, "image_encoder": image_encoder, "feature_extractor": svd_feature_extractor(),
                 "scheduler": EulerDiscreteScheduler(**SVD_SCHEDULER_CONFIG)}
    from posetraj.training.loop import FrozenModels

    return FrozenModels(parts["vae"], parts["image_encoder"], parts["unet"], parts["scheduler"],
                        parts["feature_extractor"])


def _clips(root: Path, count: int, frames: int, width: int, height: int) -> Path:
    from benchmark.synthetic_clips import SyntheticClipConfig, render_synthetic_clip

    for i in range(count):
        render_synthetic_clip(root, f"clip{i:03d}", SyntheticClipConfig(
            width=width, height=height, num_frames=frames, turn_deg=90.0 * (i % 2), travel=0.8, seed=i))
    return root


def _peak_bytes(device: str) -> int:
    import torch

    if device.startswith("cuda"):
        return int(torch.cuda.max_memory_allocated())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def run_one(args: argparse.Namespace, batch: int, accumulation: int) -> dict:
    """One setting in this process: loader throughput, then training throughput and peak memory."""
    import torch
    from torch.utils.data import DataLoader

    from posetraj.training.config import load_config
    from posetraj.training.data import SkipLog, WindowDataset, WindowSampler, collate, scan_sources
    from posetraj.training.loop import train

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="train_throughput-"))
    clip_size = (args.width, args.height + args.height // 5)  # taller than the training size: crop in the loader
    clips = _clips(work / "clips", args.clips, args.frames + 4, *clip_size)
    real = args.config == "real"
    overrides = [f"model.svd={work / 'unused'}", "model.variant=null", f"data.paths=[{clips}]",
                 f"data.width={args.width}", f"data.height={args.height}", f"data.num_frames={args.frames}",
                 f"data.num_workers={args.workers}", f"train.batch_size={batch}",
                 f"train.gradient_accumulation_steps={accumulation}", f"train.max_steps={args.warmup + args.steps}",
                 "train.log_every=1", "train.checkpoint_every=100000", f"output_dir={work / 'run'}",
                 f"train.mixed_precision={'fp16' if real else 'no'}",
                 f"train.gradient_checkpointing={'true' if real else 'false'}"]
    config = load_config("pose", overrides)
    sources = scan_sources(config.data, SkipLog())
    loader = DataLoader(WindowDataset(sources, config.data), batch_sampler=WindowSampler(len(sources), batch),
                        num_workers=args.workers, collate_fn=collate)
    batches = iter(loader)
    next(batches)
    start, seen = time.perf_counter(), 0
    for _ in range(args.steps * accumulation):
        seen += len(next(batches)["seed"])
    loader_rate = seen / (time.perf_counter() - start)
    del batches, loader
    frozen = _components(args.config, args.device, args.frames)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    result = train(config, progress=False, frozen=frozen)
    logged = [json.loads(line) for line in (work / "run" / "metrics.jsonl").read_text().splitlines()]
    rates = [entry["train/samples_per_s"] for entry in logged if entry["step"] > args.warmup]
    return {"setting": "original" if accumulation > 1 else f"batch{batch}", "per_process_batch": batch,
            "accumulation": accumulation, "effective_batch": batch * accumulation, "config": args.config,
            "frames": args.frames, "width": args.width, "height": args.height, "device": args.device,
            "train_samples_per_s": sum(rates) / len(rates), "loader_samples_per_s": loader_rate,
            "loader_workers": args.workers, "peak_bytes": _peak_bytes(args.device), "steps": result.step,
            "final_loss": logged[-1]["train/loss"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=("tiny", "real"), default="tiny")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda for real, cpu for tiny)")
    parser.add_argument("--batches", type=int, nargs="+", default=[2], help="per-process batches to compare")
    parser.add_argument("--frames", type=int, default=None, help="default: 8 (tiny), 14 (real)")
    parser.add_argument("--width", type=int, default=None, help="default: 64 (tiny), 576 (real)")
    parser.add_argument("--height", type=int, default=None, help="default: 64 (tiny), 320 (real)")
    parser.add_argument("--steps", type=int, default=10, help="timed optimiser steps (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="loader processes")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: BATCH,ACCUMULATION in a child process
    args = parser.parse_args()
    real = args.config == "real"
    args.device = args.device or ("cuda" if real else "cpu")
    args.frames = args.frames or (14 if real else 8)
    args.width, args.height = args.width or (576 if real else 64), args.height or (320 if real else 64)
    if args.one:
        batch, accumulation = (int(v) for v in args.one.split(","))
        print(json.dumps(run_one(args, batch, accumulation)))
        return 0
    settings = [(1, 2)] + [(b, 1) for b in args.batches]
    rows = []
    for batch, accumulation in settings:
        argv = [a for a in sys.argv[1:] if a != "--json"] + ["--one", f"{batch},{accumulation}"]
        done = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
        if done.returncode != 0:
            rows.append({"setting": f"batch{batch}x{accumulation}", "error": done.stderr.strip().splitlines()[-1]})
        else:
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{args.config} config, {args.frames} frames at {args.width}x{args.height} on {args.device}, "
          f"{args.steps} timed steps after {args.warmup}, {args.workers} loader worker(s), {args.threads} thread(s)")
    print(f"{'setting':<10} {'batch x accum':>13} {'train samples/s':>16} {'loader samples/s':>17} {'peak MiB':>9}")
    for row in rows:
        if "error" in row:
            print(f"{row['setting']:<10} error: {row['error']}")
            continue
        print(f"{row['setting']:<10} {row['per_process_batch']:>6} x {row['accumulation']:<4} "
              f"{row['train_samples_per_s']:>16.2f} {row['loader_samples_per_s']:>17.1f} {row['peak_bytes'] / 2**20:>9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
