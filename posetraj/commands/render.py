"""``posetraj render``: render one clip (or list the trajectory families and built-in assets)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from render.camera import CAMERA_MODES
from render.errors import RenderError
from render.spec import PRESETS, SceneOptions
from posetraj.commands.user_path_options import add_user_path_options, clip_spec_for


def add_clip_options(parser: argparse.ArgumentParser) -> None:
    """Options that shape a clip, shared by ``posetraj render`` and ``posetraj dataset plan``."""
    parser.add_argument("--speed-profile", default="constant", choices=("constant", "ease"))
    parser.add_argument("--preset", default="draft", choices=tuple(PRESETS), help="render quality preset")
    parser.add_argument("--frames", type=int, help="number of frames (preset default: 32)")
    parser.add_argument("--fps", type=float, help="frames per second (preset default: 5)")
    parser.add_argument("--width", type=int, help="image width in pixels (even)")
    parser.add_argument("--height", type=int, help="image height in pixels (even)")
    parser.add_argument("--samples", type=int, help="Cycles samples per pixel")
    parser.add_argument("--filter-width", type=float,
                        help="pixel filter width in pixels (default 1.5; 0.01 = no anti-aliasing, as PoseTraj-10k)")
    parser.add_argument("--plate-samples", type=int,
                        help="samples of the static-background plate (0 = path trace every frame in full; "
                             "paper preset: 256)")
    parser.add_argument("--camera", default="default", choices=CAMERA_MODES, help="camera mode")
    parser.add_argument("--track-points", type=int, default=256, help="surface points tracked for ground truth")
    parser.add_argument("--png", action="store_true", help="also write lossless PNG frames")
    parser.add_argument("--asset-frame", type=int,
                        help="freeze the asset's own animation at this frame (24 fps; default: its rest pose)")


def clip_options(args: argparse.Namespace) -> dict:
    """The :func:`add_clip_options` values as :func:`render.spec.make_clip_spec` keywords (preset aside);
    size, frame and sampling overrides only where given."""
    overrides = {"num_frames": args.frames, "fps": args.fps, "width": args.width, "height": args.height,
                 "samples": args.samples, "filter_width": args.filter_width, "plate_samples": args.plate_samples}
    return {"speed_profile": args.speed_profile, "camera_mode": args.camera, "num_track_points": args.track_points,
            "write_png": args.png, "asset_frame": args.asset_frame,
            **{k: v for k, v in overrides.items() if v is not None}}


def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument("--asset", help="asset file (glb, gltf, obj, fbx, ply, stl, usd[a|c|z]) or builtin:NAME")
    parser.add_argument("--trajectory", default="half_circle", help="trajectory family (see --list-trajectories)")
    parser.add_argument("--pose-mode", default="yaw", help="yaw, spin, bank, pitch or tumble")
    parser.add_argument("--seed", type=int, default=0, help="seed of the trajectory, camera, scene and tracks")
    add_clip_options(parser)
    add_user_path_options(parser)
    parser.add_argument("--floor-texture", help="image file for the floor (default: a procedural texture)")
    parser.add_argument("--hdri", help="HDR/EXR environment image lighting the scene")
    parser.add_argument("--min-flatness", type=float, default=0.1, help="reject objects with height/width below this")
    parser.add_argument("--clip-id", help="name of the clip directory (default: derived from the spec)")
    parser.add_argument("--device", default="auto", help="auto (GPU when present), CPU, CUDA, OPTIX, HIP or METAL")
    parser.add_argument("--threads", type=int, default=0, help="render threads (0 = all cores)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing complete clip")
    parser.add_argument("--clip-timeout", type=float, metavar="SECONDS",
                        help="stop the render after this many seconds (default: the preset's limit, docs/farm.md)")
    parser.add_argument("--no-fit", action="store_true",
                        help="render the drawn trajectory exactly: fail with out_of_frame instead of redrawing it "
                             "or scaling it down when the object would leave the frame")
    parser.add_argument("--out", type=Path, help="output directory; the clip goes to OUT/<clip_id>")
    parser.add_argument("--list-trajectories", action="store_true", help="list the trajectory families and exit")
    parser.add_argument("--list-builtins", action="store_true", help="list the built-in assets and exit")


def run(args: argparse.Namespace) -> int:
    if args.list_trajectories:
        from render.trajectories import POSE_MODES, describe_trajectories

        for name, text in describe_trajectories().items():
            print(f"{name:<14} {text}")
        print(f"\npose modes: {', '.join(POSE_MODES)}")
        return 0
    if args.list_builtins:
        from assets_catalog.builtin import BUILTIN_ROLES, describe_builtins

        for role in BUILTIN_ROLES:
            print(f"{role} models:" if role == "benchmark" else f"\n{role} models (reserved for training data, "
                  f"never in a benchmark suite):")
            for name, text in describe_builtins(role).items():
                print(f"  builtin:{name:<10} {text}")
        return 0
    if not args.asset or not args.out:
        print("error: --asset and --out are required to render a clip", file=sys.stderr)
        return 2
    from dataclasses import replace

    from render.failures import record_failure, request_clip_id
    from render.fitting import FitPolicy, describe_fit

    try:
        spec = clip_spec_for(
            args, args.asset, args.trajectory, preset=args.preset, pose_mode=args.pose_mode, seed=args.seed,
            min_flatness=args.min_flatness, scene=SceneOptions(floor_texture=args.floor_texture, hdri=args.hdri),
            clip_id=args.clip_id or "", **clip_options(args),
        )
        spec = replace(spec, settings=replace(spec.settings, device=args.device, threads=args.threads))
    except RenderError as exc:  # no spec, so no clip id yet: the record is named after the request
        clip_id = args.clip_id or request_clip_id(args.asset, args.trajectory, args.seed)
        record_failure(args.out, clip_id, args.asset, exc)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.clip_timeout is not None and not args.clip_timeout > 0:
        print(f"error: --clip-timeout must be > 0 seconds, got {args.clip_timeout:g}", file=sys.stderr)
        return 2
    from render.clip_process import ClipProcess
    from render.process_control import Interrupted, interrupt_on_signals
    from render.spec import default_clip_timeout_s

    print(f"rendering {spec.clip_id}: {spec.asset} on {spec.trajectory.name} "
          f"({spec.trajectory.num_frames} frames, {spec.settings.width}x{spec.settings.height}, "
          f"{spec.settings.samples} samples)", file=sys.stderr)
    # Blender renders in a child process, so that Ctrl-C / SIGTERM and the timeout stop it at once
    with interrupt_on_signals(), ClipProcess() as renderer:
        try:
            result = renderer.render(spec, args.out, timeout_s=args.clip_timeout or default_clip_timeout_s(spec),
                                     overwrite=args.overwrite, fit=None if args.no_fit else FitPolicy())
        except Interrupted as stop:
            print(f"{stop}: the render was stopped and its work folder removed", file=sys.stderr)
            return stop.exit_code
    if result.status == "failed":
        print(f"error: {result.error}", file=sys.stderr)
        return 1
    clip_dir = result.path
    if result.status == "exists":
        print(f"{clip_dir} is already complete (--overwrite renders it again)", file=sys.stderr)
        print(clip_dir)
        return 0
    meta = json.loads((clip_dir / "meta.json").read_text())
    print(f"wrote {clip_dir} in {meta['timing']['total_s']:.1f} s "
          f"(render {meta['timing']['render_s']:.1f} s on {meta['render']['device']})", file=sys.stderr)
    if note := describe_fit(meta.get("fit") or {}):
        print(f"note: {note}", file=sys.stderr)
    print(clip_dir)
    return 0
