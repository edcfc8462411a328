"""``posetraj generate``: one video from an image and a trajectory file, plus a trajectory overlay."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common.trajectories import CLIP_KEYS


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from err
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return width, height


def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", required=True, type=Path, help="first frame (any PIL-readable image)")
    parser.add_argument("--trajectory", required=True, type=Path,
                        help="clip dir / annotations.npz, traj.npy (T,2)/(T,N,2), or DragAnything JSON")
    parser.add_argument("--svd", required=True, type=Path, help="local diffusers SVD img2vid folder")
    parser.add_argument("--controlnet", type=Path, default=None,
                        help="saved Traj-ControlNet folder (default: an untrained copy, i.e. plain SVD)")
    parser.add_argument("--out", required=True, type=Path, help="output video (.mp4, H.264)")
    parser.add_argument("--overlay", type=Path, default=None,
                        help="overlay video with the trajectories drawn (default: OUT stem + _overlay.mp4)")
    parser.add_argument("--trajectory-size", type=_size, default=None, metavar="WxH",
                        help="native resolution of .npy/.json trajectories (default: the image's size)")
    parser.add_argument("--clip-key", choices=CLIP_KEYS, default="center_2d", help="trajectory array of a clip")
    parser.add_argument("--outliers", choices=("drop", "hide", "keep"), default=None,
                        help="trajectories leaving the frame by more than 10%% of its size (diverged tracker output): "
                             "drop them (default for JSON, as the benchmark does), hide those points, or keep them "
                             "(default for clips and .npy)")
    parser.add_argument("--width", type=int, default=576, help="generation width (multiple of 8)")
    parser.add_argument("--height", type=int, default=320, help="generation height (multiple of 8)")
    parser.add_argument("--num-frames", type=int, default=14)
    parser.add_argument("--fps", type=int, default=None,
                        help="frame-rate id the model is conditioned on, and the video's fps (default: the fps id "
                             "the ControlNet was trained with, from its config; 6 for PoseTraj)")
    parser.add_argument("--motion-bucket-id", type=int, default=None,
                        help="motion bucket id (default: the ControlNet's training value)")
    parser.add_argument("--noise-aug-strength", type=float, default=None,
                        help="first-frame noise augmentation (default: the ControlNet's training value)")
    parser.add_argument("--steps", type=int, default=25, help="denoising steps")
    parser.add_argument("--min-guidance-scale", type=float, default=1.0)
    parser.add_argument("--max-guidance-scale", type=float, default=3.0)
    parser.add_argument("--controlnet-scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, or auto")
    parser.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="fp32")
    parser.add_argument("--variant", default=None, help="weights variant, e.g. fp16 for the real SVD repo")
    parser.add_argument("--decode-chunk-size", type=int, default=None, help="frames decoded by the VAE at once")
    parser.add_argument("--cpu-offload", action="store_true", help="diffusers model CPU offload (GPU only)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def run(args: argparse.Namespace) -> int:
    import PIL.Image

    from common.drawing import draw_trajectory_overlay
    from common.trajectories import load_trajectories
    from common.video import write_mp4
    from posetraj.inference import GenerationSettings, generate_video, load_pipeline

    start = time.perf_counter()
    if not args.image.is_file():
        print(f"error: {args.image}: image not found", file=sys.stderr)
        return 2
    try:
        image = PIL.Image.open(args.image).convert("RGB")
    except OSError as err:
        print(f"error: {args.image}: cannot read image ({err})", file=sys.stderr)
        return 2
    if args.width % 8 or args.height % 8:
        print(f"error: --width/--height must be multiples of 8, got {args.width}x{args.height}", file=sys.stderr)
        return 2
    try:
        traj = load_trajectories(args.trajectory, native_size=args.trajectory_size or image.size,
                                 clip_key=args.clip_key, outliers=args.outliers)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if traj.dropped:
        print(f"note: dropped trajectories {list(traj.dropped)}: they leave the frame by more than 10% of its size "
              f"(diverged tracker output; --outliers keep uses them)", file=sys.stderr)
    if args.controlnet is None:
        print("note: no --controlnet given; using an untrained copy (output equals plain SVD)", file=sys.stderr)
    settings = GenerationSettings(
        width=args.width, height=args.height, num_inference_steps=args.steps,
        motion_bucket_id=args.motion_bucket_id, noise_aug_strength=args.noise_aug_strength,
        min_guidance_scale=args.min_guidance_scale, max_guidance_scale=args.max_guidance_scale,
        controlnet_scale=args.controlnet_scale, seed=args.seed, decode_chunk_size=args.decode_chunk_size,
        fps_id=args.fps,
    )
    try:
        pipe = load_pipeline(args.svd, args.controlnet, args.device, args.dtype, args.variant, args.cpu_offload)
    except (OSError, ValueError) as err:
        print(f"error: cannot load the model: {err}", file=sys.stderr)
        return 2
    try:
        video = generate_video(pipe, image, traj, args.num_frames, settings)
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    fps = args.fps if args.fps is not None else pipe.controlnet.config.fps_id
    overlay_path = args.overlay or args.out.with_name(f"{args.out.stem}_overlay.mp4")
    write_mp4(args.out, video, fps)
    write_mp4(overlay_path, draw_trajectory_overlay(video, traj), fps)
    summary = {
        "video": str(args.out), "overlay": str(overlay_path), "frames": int(video.shape[0]),
        "width": int(video.shape[2]), "height": int(video.shape[1]), "points": traj.num_points, "fps_id": fps,
        "seconds": round(time.perf_counter() - start, 3),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"wrote {args.out} and {overlay_path} ({video.shape[0]} frames, {video.shape[2]}x{video.shape[1]})")
    return 0
