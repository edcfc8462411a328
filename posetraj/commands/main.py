"""The `posetraj` command line: one entry point, one subcommand per job.

Each subcommand lives in its own module, which is imported only when that subcommand runs, so
`posetraj render` never imports torch and `posetraj generate` never imports bpy. A subcommand
module provides two functions:

* ``build_parser(parser: argparse.ArgumentParser) -> None`` adds its arguments;
* ``run(args: argparse.Namespace) -> int`` does the work and returns the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Subcommand:
    name: str
    module: str
    summary: str


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("render", "posetraj.commands.render", "render one clip of an object on a trajectory, with ground truth"),
    Subcommand("dataset", "posetraj.commands.dataset", "plan a dataset and render it here or on a farm (SLURM, Kubernetes, Ray)"),
    Subcommand("catalog", "posetraj.commands.catalog", "build, filter, split and fetch the asset catalog (Objaverse, local, built-in)"),
    Subcommand("bench", "posetraj.commands.bench", "build benchmark suites, score models, write the leaderboard"),
    Subcommand("demo", "posetraj.commands.demo", "the main job: render built-in clips, score baselines, write the leaderboard"),
    Subcommand("train", "posetraj.commands.train", "train the PoseTraj ControlNet: stages pose, clean, real (accelerate)"),
    Subcommand("generate", "posetraj.commands.generate", "generate a video from an image and trajectories (PoseTraj model)"),
    Subcommand("app", "posetraj.commands.app", "interactive app: draw trajectories on an image, generate or render them"),
    Subcommand("init-tiny", "posetraj.commands.init_tiny", "write a random tiny SVD (and Traj-ControlNet) for tests"),
)


def _top_level_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="posetraj",
        description="Pose-aware trajectory-controlled video generation: data, model and benchmark.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="subcommands:\n" + "\n".join(f"  {c.name:<12} {c.summary}" for c in SUBCOMMANDS)
        + "\n\nRun 'posetraj SUBCOMMAND --help' for the options of one subcommand.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("subcommand", nargs="?", choices=[c.name for c in SUBCOMMANDS], metavar="SUBCOMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``posetraj`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    by_name = {c.name: c for c in SUBCOMMANDS}
    if not argv or argv[0] not in by_name:
        top = _top_level_parser()
        args = top.parse_args(argv[:1])
        if args.version:
            from posetraj import __version__

            print(__version__)
            return 0
        top.print_help()
        return 0 if not argv else 2
    command = by_name[argv[0]]
    module = importlib.import_module(command.module)
    parser = argparse.ArgumentParser(prog=f"posetraj {command.name}", description=command.summary)
    module.build_parser(parser)
    args = parser.parse_args(argv[1:])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
