"""``posetraj demo``: the main job on built-in assets, end to end, with a closing summary."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_ASSETS = ("car", "boat", "plane", "animal")
DEFAULT_TRAJECTORIES = ("half_circle", "s_curve", "line")


def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
    parser.add_argument("--assets", nargs="+", default=list(DEFAULT_ASSETS), help="built-in assets to render")
    parser.add_argument("--trajectories", nargs="+", default=list(DEFAULT_TRAJECTORIES), help="trajectory families")
    parser.add_argument("--clips", type=int, default=4, help="number of clips (assets and families are cycled)")
    parser.add_argument("--frames", type=int, default=16, help="frames per clip")
    parser.add_argument("--width", type=int, default=288, help="frame width")
    parser.add_argument("--height", type=int, default=192, help="frame height")
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")


def run(args: argparse.Namespace) -> int:
    from render.clip_io import load_clip
    from render.dataset import render_dataset
    from render.spec import make_clip_spec

    if args.clips < 1:
        print("error: --clips must be at least 1", file=sys.stderr)
        return 2
    specs = [
        make_clip_spec(
            f"builtin:{args.assets[i % len(args.assets)]}",
            args.trajectories[i % len(args.trajectories)],
            preset="draft", num_frames=args.frames, width=args.width, height=args.height,
            samples=args.samples, seed=i,
        )
        for i in range(args.clips)
    ]
    dataset_dir = args.out / "clips"
    report = render_dataset(specs, dataset_dir, redraws_out_of_frame=5)
    print(f"\nDataset: {dataset_dir.resolve()}")
    print(f"  {len(report.rendered)} rendered, {len(report.skipped)} already there, {len(report.failed)} failed")
    for clip_id in report.clips:
        clip = load_clip(dataset_dir / clip_id)
        annotations = clip.annotations
        visible = float(annotations["tracks_visible"].mean())
        print(f"  {clip_id}: {clip.meta['asset']['uid']} on {clip.meta['trajectory']['name']}, "
              f"{clip.num_frames} frames {clip.size[0]}x{clip.size[1]}, "
              f"{annotations['tracks_2d'].shape[1]} tracked points ({visible:.0%} visible)")
    print("  each clip holds rgb.mp4, meta.json, annotations.npz (K, cam_w2c, obj_to_world, 3D boxes, depth, "
          "mask, tracks), traj.npy, bbox.npy, render.log and the DONE marker (docs/clip_format.md)")
    print(json.dumps({"dataset": str(dataset_dir), "clips": report.clips, "failed": report.failed}))
    return 1 if report.failed else 0
