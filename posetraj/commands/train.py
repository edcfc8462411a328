"""``posetraj train --config CONFIG [key=value ...]``: train the Traj-ControlNet, one stage per run.

    posetraj train --config pose  model.svd=/models/svd data.paths=[data/train] output_dir=runs/pose
    posetraj train --config clean model.svd=/models/svd data.paths=[data/train] model.init=runs/pose/controlnet
    accelerate launch --num_processes 8 -m posetraj train --config real ...      # many GPUs / nodes

CONFIG is a YAML file or a shipped config (``pose``, ``clean``, ``real``, ``camera``; ``--list-configs``);
every key can be overridden with its dotted name. SIGINT / SIGTERM write a checkpoint and stop (a second
signal stops at once); ``train.resume=auto`` (the default) continues from the newest checkpoint.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys


def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = __doc__.split("\n\n", 1)[1]
    parser.add_argument("--config", help="YAML config file or shipped config name (pose, clean, real, camera)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. optim.lr=1e-4")
    parser.add_argument("--strict", action="store_true", help="a malformed sample is an error, not a logged skip")
    parser.add_argument("--list-configs", action="store_true", help="list the shipped configs and exit")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the run summary as JSON")


class _Signals:
    """The first SIGINT / SIGTERM asks the loop to checkpoint and stop; a second one stops at once."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}

    def _handle(self, signum, frame) -> None:
        if self.received is not None:
            self.restore()
            raise KeyboardInterrupt
        self.received = signum
        print(f"\n[train] {signal.Signals(signum).name}: writing a checkpoint, then stopping "
              f"(send it again to stop at once)", file=sys.stderr)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def run(args: argparse.Namespace) -> int:
    from posetraj.training.config import ConfigError, load_config, shipped_configs

    if args.list_configs:
        for name, path in shipped_configs().items():
            first = next((line[1:].strip() for line in path.read_text().splitlines() if line.startswith("#")), "")
            print(f"{name:<8} {first}  ({path})")
        return 0
    if not args.config:
        print("error: --config is required (a YAML file or one of: " + ", ".join(shipped_configs()) + ")",
              file=sys.stderr)
        return 2
    overrides = list(args.overrides) + (["data.strict=true"] if args.strict else [])
    try:
        config = load_config(args.config, overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.print_config:
        from posetraj.training.config import config_to_yaml

        print(config_to_yaml(config), end="")
        return 0
    if not config.model.svd:
        print("error: model.svd is not set: give the local diffusers SVD folder, e.g. model.svd=/models/svd",
              file=sys.stderr)
        return 2

    from posetraj.training.benchmark_split import BenchmarkOverlapError
    from posetraj.training.checkpoints import CheckpointError
    from posetraj.training.data import SampleError
    from posetraj.training.loop import TrainingError, train

    signals = _Signals()
    try:
        result = train(config, progress=not args.no_progress, stop_requested=lambda: signals.received is not None)
    except (ConfigError, TrainingError, BenchmarkOverlapError, CheckpointError, SampleError, FileNotFoundError,
            ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("[train] stopped without a checkpoint", file=sys.stderr)
        return 130
    finally:
        signals.restore()
    summary = result.summary
    if args.json:
        print(json.dumps(summary))
    else:
        malformed = summary["malformed"]["malformed_samples"]
        print(f"{summary['status']}: step {summary['step']}/{summary['max_steps']} of stage {summary['stage']} "
              f"({summary['steps_this_run']} steps in {summary['run_s']:.0f} s, {summary['samples_seen']} samples seen, "
              f"{malformed} malformed sample{'s' * (malformed != 1)} skipped)")
        if result.controlnet:
            print(f"ControlNet: {result.controlnet}  (posetraj generate --controlnet, POSETRAJ_CONTROLNET)")
        print(f"Summary: {result.output_dir / 'train_summary.json'}; TensorBoard: {result.output_dir / 'logs'}")
    if result.status == "interrupted":
        return 128 + int(signals.received or signal.SIGINT)
    return 0
