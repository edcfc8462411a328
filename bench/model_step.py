"""Benchmark the PoseTraj model: one ControlNet training step and one full generation.

Measures, for the tiny test config (CPU) or the real SVD img2vid config (random weights, GPU):
forward and backward time of one EDM training step (frozen UNet + trainable ControlNet, VAE/CLIP
excluded: latents and image embeddings are random inputs of the right shape), the time of one
``num_inference_steps`` generation through ``PoseTrajPipeline`` (CLIP, VAE encode/decode, CFG), the
peak memory of each phase, and the parameter counts of UNet and ControlNet (real config counted on
the ``meta`` device: nothing is allocated or downloaded).

    python bench/model_step.py --config tiny --device cpu
    python bench/model_step.py --config real --device cuda --dtype fp16
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REAL_UNET_CONFIG = {
    "sample_size": 96, "in_channels": 8, "out_channels": 4,
    "down_block_types": ["CrossAttnDownBlockSpatioTemporal"] * 3 + ["DownBlockSpatioTemporal"],
    "up_block_types": ["UpBlockSpatioTemporal"] + ["CrossAttnUpBlockSpatioTemporal"] * 3,
    "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2, "transformer_layers_per_block": 1,
    "num_attention_heads": [5, 10, 20, 20], "cross_attention_dim": 1024, "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 768, "num_frames": 14,
}
REAL_VAE_CONFIG = {
    "in_channels": 3, "out_channels": 3, "down_block_types": ["DownEncoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512], "layers_per_block": 2, "latent_channels": 4,
    "sample_size": 768, "scaling_factor": 0.18215, "force_upcast": True,
}
REAL_CLIP_CONFIG = {
    "hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32, "num_attention_heads": 16,
    "image_size": 224, "patch_size": 14, "projection_dim": 1024, "hidden_act": "gelu",
}


def count_parameters(config: str) -> dict[str, int]:
    """Parameter counts of UNet and ControlNet; the real config is built on the meta device."""
    import torch
    from diffusers import UNetSpatioTemporalConditionModel

    from posetraj.models.controlnet import TrajControlNetModel
    from posetraj.tiny import TINY_UNET_CONFIG

    unet_config = REAL_UNET_CONFIG if config == "real" else dict(TINY_UNET_CONFIG, num_frames=8)
    with torch.device("meta"):
        unet = UNetSpatioTemporalConditionModel(**unet_config)
        controlnet = TrajControlNetModel.from_unet(unet)
    encoder = controlnet.controlnet_cond_embedding
    zero_convs = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]
    return {
        "unet": sum(p.numel() for p in unet.parameters()),
        "controlnet": sum(p.numel() for p in controlnet.parameters()),
        "controlnet_trajectory_encoder": sum(p.numel() for p in encoder.parameters()),
        "controlnet_zero_convs": sum(p.numel() for m in zero_convs for p in m.parameters()),
    }


def build_pipeline(config: str, device: str, dtype):
    """A PoseTrajPipeline with random weights (tiny or real SVD layout) on ``device``."""
    import torch
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler, UNetSpatioTemporalConditionModel
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from posetraj.models.controlnet import TrajControlNetModel
    from posetraj.pipelines.pipeline_posetraj import PoseTrajPipeline
    from posetraj.tiny import SVD_SCHEDULER_CONFIG, svd_feature_extractor, tiny_svd_components

    if config == "tiny":
        components = tiny_svd_components(num_frames=8)
    else:
        torch.manual_seed(0)
        with torch.device(device):
            components = {
                "unet": UNetSpatioTemporalConditionModel(**REAL_UNET_CONFIG),
                "vae": AutoencoderKLTemporalDecoder(**REAL_VAE_CONFIG),
                "image_encoder": CLIPVisionModelWithProjection(CLIPVisionConfig(**REAL_CLIP_CONFIG)),
                "scheduler": EulerDiscreteScheduler(**SVD_SCHEDULER_CONFIG),
                "feature_extractor": svd_feature_extractor(),
            }
    with torch.device(device):
        controlnet = TrajControlNetModel.from_unet(components["unet"])
    pipe = PoseTrajPipeline(**components, controlnet=controlnet)
    pipe.to(device)
    for name in ("unet", "vae", "image_encoder", "controlnet"):
        module = getattr(pipe, name)
        if module.dtype != dtype:
            module.to(dtype=dtype)
        module.eval().requires_grad_(False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


class PeakMemory:
    """Peak memory over a block: CUDA allocator peak, or sampled process RSS on CPU (bytes above start)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.peak = 0

    def __enter__(self) -> "PeakMemory":
        import torch

        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
        else:
            import psutil

            self._process = psutil.Process(os.getpid())
            self.start = self._process.memory_info().rss
            self._max = self.start
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._max = max(self._max, self._process.memory_info().rss)
            time.sleep(0.002)

    def __exit__(self, *exc) -> None:
        import torch

        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.start
        else:
            self._stop.set()
            self._thread.join()
            self._max = max(self._max, self._process.memory_info().rss)
            self.peak = self._max - self.start


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench_training_step(pipe, frames: int, height: int, width: int, device: str, dtype, repeats: int) -> dict:
    """Median forward / backward seconds of one EDM step and the peak memory of the last one."""
    import torch

    from posetraj.models.time_ids import added_time_ids
    from posetraj.training.step import TrainingBatch, edm_training_loss

    controlnet = pipe.controlnet
    if controlnet.dtype != torch.float32:
        controlnet.float()
    controlnet.train().requires_grad_(True)
    controlnet.enable_gradient_checkpointing()
    g = torch.Generator().manual_seed(0)
    h, w = height // 8, width // 8
    batch = TrainingBatch(
        latents=torch.randn(1, frames, 4, h, w, generator=g).to(device, dtype),
        image_latents=torch.randn(1, 4, h, w, generator=g).to(device, dtype),
        image_embeddings=torch.randn(1, 1, pipe.unet.config.cross_attention_dim, generator=g).to(device, dtype),
        added_time_ids=added_time_ids(7, 127, 0.02, 1, dtype, device),
        conditioning=(torch.rand(1, frames, 3, height, width, generator=g) * 2 - 1).to(device, dtype),
    )
    autocast = torch.autocast(device_type="cuda", dtype=dtype) if device.startswith("cuda") and dtype != torch.float32 \
        else torch.autocast(device_type="cpu", enabled=False)
    forward, backward = [], []
    peak = 0
    for _ in range(repeats + 1):
        controlnet.zero_grad(set_to_none=True)
        with PeakMemory(device) as memory:
            _sync(device)
            start = time.perf_counter()
            with autocast:
                loss = edm_training_loss(controlnet, pipe.residual_unet, batch, torch.Generator().manual_seed(1))
            _sync(device)
            middle = time.perf_counter()
            loss.backward()
            _sync(device)
            end = time.perf_counter()
        forward.append(middle - start)
        backward.append(end - middle)
        peak = max(peak, memory.peak)  # on CPU the cold first step holds the peak (freed memory is reused)
    controlnet.disable_gradient_checkpointing()
    controlnet.eval().requires_grad_(False)
    if controlnet.dtype != dtype:
        controlnet.to(dtype)
    return {
        "forward_s": statistics.median(forward[1:]), "backward_s": statistics.median(backward[1:]),
        "first_step_s": forward[0] + backward[0], "peak_bytes": peak, "loss": float(loss.detach()),
    }


def bench_generation(pipe, frames: int, height: int, width: int, steps: int, device: str) -> dict:
    """Seconds and peak memory of one ``steps``-step generation with CFG, and of stock SVD right after.

    The stock ``StableVideoDiffusionPipeline`` on the same components (no ControlNet) runs in the
    same process directly after, so ``controlnet_overhead`` is a side-by-side ratio; both pipelines
    get one 1-step warm-up call first.
    """
    import numpy as np
    import PIL.Image
    import torch
    from diffusers import StableVideoDiffusionPipeline

    from common.trajectories import Trajectories

    image = PIL.Image.fromarray((np.random.default_rng(0).random((height, width, 3)) * 255).astype(np.uint8))
    xs = np.linspace(0.2 * width, 0.8 * width, frames)
    traj = Trajectories.from_array(np.stack([xs, np.full(frames, height / 2)], axis=1), (width, height))
    options = {"height": height, "width": width, "num_frames": frames, "num_inference_steps": steps,
               "decode_chunk_size": min(frames, 8), "output_type": "np"}
    stock = StableVideoDiffusionPipeline(**{k: v for k, v in pipe.components.items() if k != "controlnet"})
    stock.set_progress_bar_config(disable=True)
    warm_up = dict(options, num_inference_steps=1)
    pipe(image, traj, generator=torch.Generator().manual_seed(0), **warm_up)
    stock(image, generator=torch.Generator().manual_seed(0), **warm_up)
    with PeakMemory(device) as memory:
        _sync(device)
        start = time.perf_counter()
        out = pipe(image, traj, generator=torch.Generator().manual_seed(0), **options).frames
        _sync(device)
        seconds = time.perf_counter() - start
    _sync(device)
    start = time.perf_counter()
    stock(image, generator=torch.Generator().manual_seed(0), **options)
    _sync(device)
    stock_seconds = time.perf_counter() - start
    return {"seconds": seconds, "seconds_per_step": seconds / steps, "peak_bytes": memory.peak,
            "stock_svd_seconds": stock_seconds, "controlnet_overhead": seconds / stock_seconds,
            "finite": bool(np.isfinite(out).all())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=("tiny", "real"), default="tiny")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="fp32",
                        help="frozen-model dtype (and autocast dtype on cuda); the ControlNet trains in fp32")
    parser.add_argument("--frames", type=int, default=None, help="default: 8 (tiny), 14 (real)")
    parser.add_argument("--height", type=int, default=None, help="default: 64 (tiny), 320 (real)")
    parser.add_argument("--width", type=int, default=None, help="default: 64 (tiny), 576 (real)")
    parser.add_argument("--steps", type=int, default=25, help="denoising steps of the generation")
    parser.add_argument("--repeats", type=int, default=3, help="timed training steps after one warm-up")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--counts-only", action="store_true", help="only count parameters (meta device)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: --device cuda requested but torch sees no CUDA device", file=sys.stderr)
        return 2
    frames = args.frames or (14 if args.config == "real" else 8)
    height = args.height or (320 if args.config == "real" else 64)
    width = args.width or (576 if args.config == "real" else 64)
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    result: dict = {
        "config": args.config, "device": args.device, "dtype": args.dtype, "frames": frames,
        "height": height, "width": width, "steps": args.steps, "threads": args.threads,
        "torch": torch.__version__, "parameters": count_parameters(args.config),
    }
    if not args.counts_only:
        start = time.perf_counter()
        pipe = build_pipeline(args.config, args.device, dtype)
        result["build_s"] = time.perf_counter() - start
        result["training_step"] = bench_training_step(pipe, frames, height, width, args.device, dtype, args.repeats)
        result["generation"] = bench_generation(pipe, frames, height, width, args.steps, args.device)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        params = result["parameters"]
        print(f"{args.config} config on {args.device} ({args.dtype}), {frames}x{height}x{width}")
        print(f"  parameters: UNet {params['unet']:,}  ControlNet {params['controlnet']:,}")
        if "training_step" in result:
            step, gen = result["training_step"], result["generation"]
            print(f"  training step: forward {step['forward_s'] * 1e3:.0f} ms, "
                  f"backward {step['backward_s'] * 1e3:.0f} ms, peak +{step['peak_bytes'] / 2**20:.0f} MiB")
            print(f"  generation ({args.steps} steps): {gen['seconds']:.2f} s, "
                  f"peak +{gen['peak_bytes'] / 2**20:.0f} MiB; stock SVD {gen['stock_svd_seconds']:.2f} s "
                  f"(x{gen['controlnet_overhead']:.2f} with ControlNet)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
