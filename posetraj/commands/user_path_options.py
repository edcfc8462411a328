"""The user-path options of ``posetraj render`` and ``posetraj dataset plan`` (not a subcommand).

``--path-floor '[[x, y], ...]'`` gives the object's path as world floor points (metres, z = 0);
``--path-image FILE`` as image points, a DragAnything / PoseTraj JSON file read by the one trajectory
reader, lifted onto the floor through the default camera at ``--path-image-size`` (default: the clip's
size). Either replaces the trajectory family: the object follows the spline through the points
(:mod:`render.user_path`), never redrawn or scaled to fit.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from render.errors import RenderError
from render.spec import ClipSpec, make_clip_spec


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return width, height


def add_user_path_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("user path (replaces the trajectory family; never redrawn or scaled)")
    given = group.add_mutually_exclusive_group()
    given.add_argument("--path-floor", metavar="JSON",
                       help="the object's path as floor points in metres, e.g. '[[-0.8, 0], [0, 0.5], [0.8, 0]]' "
                            "([x, y] or [x, y, 0]); the object passes through each, first to last")
    given.add_argument("--path-image", type=Path, metavar="FILE",
                       help="the path as image points: a DragAnything/PoseTraj JSON file {id: [[x, y], ...]} in pixels "
                            "of an image seen by the default camera, lifted onto the floor")
    group.add_argument("--path-image-size", type=_size, metavar="WxH",
                       help="size of the image the --path-image points were drawn on (default: the clip's size)")
    group.add_argument("--path-image-id", metavar="ID", help="which trajectory of --path-image (default: the first)")


def user_path(args: argparse.Namespace) -> dict | None:
    """:func:`render.user_path.user_clip_spec` keywords for the given path option, None when there is none."""
    if getattr(args, "path_floor", None) is not None:
        try:
            points = np.asarray(json.loads(args.path_floor), dtype=np.float64)
        except (json.JSONDecodeError, TypeError, ValueError) as exc:
            raise RenderError("invalid_spec", f"--path-floor: expected a JSON list of [x, y] metres ({exc})") from None
        return {"floor_points": points}
    if getattr(args, "path_image", None) is not None:
        from common.trajectories import TrajectoryFormatError, read_trajectory_json

        try:
            traj = read_trajectory_json(args.path_image, args.path_image_size, outliers="keep")
        except TrajectoryFormatError as exc:
            raise RenderError("invalid_spec", f"--path-image: {exc}") from None
        index = 0
        if args.path_image_id is not None:
            if args.path_image_id not in traj.ids:
                raise RenderError("invalid_spec", f"--path-image: {args.path_image} has no trajectory "
                                                  f"{args.path_image_id!r} (ids: {', '.join(traj.ids)})")
            index = traj.ids.index(args.path_image_id)
        return {"image_points": traj.points[index][traj.visible[index]], "image_size": args.path_image_size}
    if getattr(args, "path_image_size", None) is not None or getattr(args, "path_image_id", None) is not None:
        raise RenderError("invalid_spec", "--path-image-size and --path-image-id need --path-image")
    return None


def clip_spec_for(args: argparse.Namespace, asset: str, trajectory: str, **options) -> ClipSpec:
    """The clip spec of ``asset``: along the user path when one was given, else on ``trajectory``."""
    path = user_path(args)
    if path is None:
        return make_clip_spec(asset, trajectory, **options)
    from render.user_path import user_clip_spec

    return user_clip_spec(asset, **path, **options)


def user_path_specs(args: argparse.Namespace, assets: list[str], **options) -> list[ClipSpec] | None:
    """``posetraj dataset plan``'s clips along the user path (assets outermost, then pose modes, then seeds),
    None when no path was given."""
    path = user_path(args)
    if path is None:
        return None
    from render.user_path import user_clip_spec

    return [user_clip_spec(asset, **path, pose_mode=pose_mode, seed=seed, **options)
            for asset in assets for pose_mode in args.pose_modes for seed in args.seeds]
