"""What rendering in a child process costs (docs/farm.md, "Interruption and timeouts").

The dataset driver renders each clip in a child process that the worker can stop (render/clip_process.py).
This renders the same clips in this process (``render_clip``) and through the driver (one child for all
of them), side by side, and prints wall and CPU seconds of each (the child's CPU from RUSAGE_CHILDREN,
its start, which imports Blender, included).

    .venv/bin/python bench/render_child_overhead.py --clips 3 --frames 8 --size 288 192 --samples 16
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from render.dataset import render_dataset  # noqa: E402
from render.pipeline import render_clip  # noqa: E402
from render.spec import make_clip_spec  # noqa: E402


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, nargs=2, default=(288, 192), metavar=("W", "H"))
    parser.add_argument("--samples", type=int, default=16)
    args = parser.parse_args()
    options = dict(num_frames=args.frames, width=args.size[0], height=args.size[1], samples=args.samples)
    specs = [make_clip_spec("builtin:car", "line", seed=seed, **options) for seed in range(args.clips)]
    render_clip(make_clip_spec("builtin:car", "line", seed=99, num_frames=2, width=64, height=48, samples=1),
                Path(tempfile.mkdtemp()))  # import Blender here first: the in-process side pays it no more
    with tempfile.TemporaryDirectory() as here, tempfile.TemporaryDirectory() as child:
        cpu, wall = _cpu(resource.RUSAGE_SELF), time.perf_counter()
        for spec in specs:
            render_clip(spec, Path(here))
        in_process = (time.perf_counter() - wall, _cpu(resource.RUSAGE_SELF) - cpu)
        cpu, wall = _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
        render_dataset(specs, Path(child), progress=False)
        in_child = (time.perf_counter() - wall, _cpu(resource.RUSAGE_CHILDREN) - cpu)
    print(f"{args.clips} clips of {args.size[0]}x{args.size[1]}, {args.frames} frames, {args.samples} samples")
    print(f"in this process:        {in_process[0]:7.1f} s wall {in_process[1]:7.1f} CPU-s")
    print(f"in one render child:    {in_child[0]:7.1f} s wall {in_child[1]:7.1f} CPU-s (its start included)")
    print(f"child - in process:     {in_child[0] - in_process[0]:+7.1f} s wall {in_child[1] - in_process[1]:+7.1f} CPU-s")


if __name__ == "__main__":
    main()
