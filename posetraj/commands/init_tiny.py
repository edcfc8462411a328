"""``posetraj init-tiny OUT``: write a random tiny SVD (and optionally a tiny Traj-ControlNet)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="new folder for the tiny SVD (diffusers layout)")
    parser.add_argument("--num-frames", type=int, default=8, help="UNet num_frames config value")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--controlnet", type=Path, default=None,
                        help="also write a tiny Traj-ControlNet (from_unet: zero residuals) to this new folder")
    parser.add_argument("--encoding", choices=("segments", "gaussian"), default="segments")
    parser.add_argument("--injection", choices=("once", "accumulate"), default="once")
    parser.add_argument("--camera", action="store_true", help="give the ControlNet a camera module")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def run(args: argparse.Namespace) -> int:
    import sys

    import torch

    from posetraj.tiny import write_tiny_svd

    torch.set_num_threads(1)
    try:
        svd = write_tiny_svd(args.out, args.num_frames, args.seed)
    except FileExistsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    summary = {"svd": str(svd), "controlnet": None}
    if args.controlnet is not None:
        from diffusers import UNetSpatioTemporalConditionModel

        from posetraj.models.controlnet import TrajControlNetModel

        if args.controlnet.exists():
            print(f"error: {args.controlnet}: already exists; choose a new folder", file=sys.stderr)
            return 2
        unet = UNetSpatioTemporalConditionModel.from_pretrained(svd, subfolder="unet")
        controlnet = TrajControlNetModel.from_unet(
            unet, conditioning_encoding=args.encoding, residual_injection=args.injection, use_camera=args.camera,
        )
        tmp = args.controlnet.with_name(f".{args.controlnet.name}.tmp")
        controlnet.save_pretrained(tmp, safe_serialization=True)
        tmp.rename(args.controlnet)
        summary["controlnet"] = str(args.controlnet)
    size = sum(p.stat().st_size for p in Path(svd).rglob("*") if p.is_file())
    summary["svd_bytes"] = size
    print(json.dumps(summary) if args.json else f"wrote tiny SVD to {svd} ({size / 1e6:.1f} MB)"
          + (f" and a tiny ControlNet to {args.controlnet}" if args.controlnet else ""))
    return 0
