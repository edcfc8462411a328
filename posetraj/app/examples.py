"""Example images for the app: the first frames of clips of the built-in models, and of any clip folder.

The shipped examples (``posetraj/app/examples/<name>.png``) are the first frames of one clip per benchmark
built-in model, rendered with the default camera (so render mode lifts points drawn on them exactly) by

    python -m posetraj.app.examples posetraj/app/examples
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
#: Size of the shipped examples: the draft preset's, the default camera's view at 3:2.
EXAMPLE_SIZE = (288, 192)
#: The example clip's path: a short step near the floor's origin, so the object stands mid-frame.
EXAMPLE_FLOOR_PATH = [[0.0, 0.0], [0.2, 0.0]]


def shipped_examples() -> dict[str, Path]:
    """Example name -> PNG path of the shipped first frames."""
    return {p.stem: p for p in sorted(EXAMPLES_DIR.glob("*.png"))}


def clip_examples(folder: Path) -> dict[str, np.ndarray]:
    """Clip id -> first frame (H, W, 3) uint8 of every complete clip directly under ``folder``."""
    from common.clip_format import iter_clips, load_clip

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: examples folder not found")
    return {clip_dir.name: load_clip(clip_dir).frames()[0] for clip_dir in iter_clips(folder)}


def load_image(path: Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def write_builtin_examples(out: Path, samples: int = 32) -> list[Path]:
    """Render one short clip per benchmark built-in along :data:`EXAMPLE_FLOOR_PATH` and save its first
    frame as ``out/<name>.png`` (needs Blender)."""
    from PIL import Image

    from assets_catalog.builtin import builtin_names, builtin_uri
    from common.clip_format import load_clip
    from render.pipeline import render_clip
    from render.user_path import user_clip_spec

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in builtin_names("benchmark"):
            spec = user_clip_spec(builtin_uri(name), floor_points=np.array(EXAMPLE_FLOOR_PATH), preset="draft",
                                  num_frames=2, width=EXAMPLE_SIZE[0], height=EXAMPLE_SIZE[1], samples=samples)
            frame = load_clip(render_clip(spec, Path(tmp))).frames()[0]
            path = out / f"{name}.png"
            Image.fromarray(frame).save(path, optimize=True)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="render the app's example images (first frames of built-in clips)")
    parser.add_argument("out", type=Path, nargs="?", default=EXAMPLES_DIR)
    parser.add_argument("--samples", type=int, default=32)
    args = parser.parse_args(argv)
    for path in write_builtin_examples(args.out, args.samples):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
