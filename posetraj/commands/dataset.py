"""``posetraj dataset``: plan a dataset, render it on one machine or a farm, and report its progress.

    posetraj dataset plan --builtins --trajectories half_circle s_curve --seeds 0-4 --out plan.json
    posetraj dataset render --plan plan.json --out data/ --workers 2            # this machine
    posetraj dataset slurm --plan plan.json --out data/ --shards 100 > render.sbatch
    posetraj dataset k8s --plan /data/plan.json --out /data/out --shards 100 --image IMG --volume-claim PVC
    posetraj dataset ray --plan /shared/plan.json --out /shared/data --shards 100 --address auto
    posetraj dataset status --plan plan.json --out data/

Exit status of ``render`` and ``ray``: 0 when every clip is done, 1 when some failed (or a worker died),
2 for bad arguments or a bad plan, 130 / 143 when stopped by SIGINT / SIGTERM (rerun to resume).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

from posetraj.commands.render import add_clip_options, clip_options
from posetraj.commands.user_path_options import add_user_path_options, user_path_specs
from render.errors import RenderError

DEFAULT_TRAJECTORIES = ("half_circle", "s_curve")  # the PoseTraj-10k families
WORKER_STOP_GRACE_S = 30.0  # a --workers child stops its clip within seconds; past this it is killed
PARENT_PID_ENV = "POSETRAJ_PARENT_PID"  # set for --workers children: they stop when their parent dies


def _seeds(text: str) -> list[int]:
    """'0-4' -> [0, 1, 2, 3, 4]; '1,5,9' -> [1, 5, 9]."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            seeds.extend(range(int(first), int(last or first) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must look like '0-4' or '1,5,9', got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError(f"no seeds in {text!r}")
    return seeds


def build_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)

    plan = sub.add_parser("plan", help="write plan.json: every clip of the dataset")
    source = plan.add_mutually_exclusive_group(required=True)
    source.add_argument("--assets", nargs="+", metavar="REF", help="builtin:NAME or mesh files")
    source.add_argument("--builtins", nargs="?", const="benchmark", choices=("benchmark", "train", "all"),
                        help="every built-in model of a role: benchmark (the default; the models benchmark suites "
                             "use) or train (reserved for training data), or all")
    source.add_argument("--catalog", type=Path, help="catalog folder (posetraj catalog build + split)")
    plan.add_argument("--split", default="train", help="catalog split to render (default: train)")
    plan.add_argument("--limit", type=int, help="at most this many assets (the first in path order)")
    plan.add_argument("--trajectories", nargs="+", default=list(DEFAULT_TRAJECTORIES), metavar="NAME")
    plan.add_argument("--pose-modes", nargs="+", default=["yaw"], metavar="MODE")
    plan.add_argument("--seeds", type=_seeds, default=[0], help="e.g. 0-4 or 1,5,9 (default: 0)")
    add_clip_options(plan)
    add_user_path_options(plan)
    plan.add_argument("--redraws", type=int, default=5,
                      help="retry a clip whose object leaves the frame with a new trajectory, up to N times")
    plan.add_argument("--clip-timeout", type=float, metavar="SECONDS",
                      help="wall-clock limit of one clip, recorded in the plan (default: the preset's, scaled "
                           "to the clip size: draft 900 s, standard 3 h, paper 2 h)")
    plan.add_argument("--out", type=Path, required=True, help="plan file to write")

    render = sub.add_parser("render", help="render the plan's clips (one shard, or all with local workers)")
    render.add_argument("--plan", type=Path, required=True)
    render.add_argument("--out", type=Path, required=True, help="dataset folder shared by all workers")
    render.add_argument("--shard-index", type=int, help="this worker's shard (default: from SLURM / Kubernetes)")
    render.add_argument("--num-shards", type=int, help="number of shards")
    render.add_argument("--workers", type=int, help="run this many shard workers on this machine")
    render.add_argument("--threads", type=int, default=0, help="render threads per worker (0: all cores)")
    render.add_argument("--clip-timeout", type=float, metavar="SECONDS", help="override the plan's limit per clip")
    render.add_argument("--no-progress", action="store_true")

    ray = sub.add_parser("ray", help="render the plan on a Ray cluster: one task per shard")
    ray.add_argument("--plan", type=Path, required=True, help="plan file on a file system every node sees")
    ray.add_argument("--out", type=Path, required=True, help="dataset folder on a file system every node sees")
    ray.add_argument("--shards", type=int, required=True)
    ray.add_argument("--cpus", type=int, default=1, help="CPUs per task (also its render threads)")
    ray.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")
    ray.add_argument("--clip-timeout", type=float, metavar="SECONDS", help="override the plan's limit per clip")
    ray.add_argument("--no-progress", action="store_true")

    status = sub.add_parser("status", help="count ok / failed / running / pending clips (live) into dataset.json")
    status.add_argument("--plan", type=Path, required=True)
    status.add_argument("--out", type=Path, required=True)

    for name, what in (("slurm", "print an sbatch script: one array task per shard"),
                       ("k8s", "print a Kubernetes Indexed Job (YAML): one completion per shard")):
        launch = sub.add_parser(name, help=what)
        launch.add_argument("--plan", required=True, help="plan file as the workers see it")
        launch.add_argument("--out", required=True, help="dataset folder as the workers see it")
        launch.add_argument("--shards", type=int, required=True)
        launch.add_argument("--cpus", type=int, default=4, help="CPU cores per worker")
        launch.add_argument("--memory", default="8G", help="memory per worker")
        launch.add_argument("--max-parallel", type=int, default=0, help="workers running at once (0: all)")
        launch.add_argument("--command", default="posetraj", help="how a worker runs posetraj")
        if name == "slurm":
            launch.add_argument("--time", default="24:00:00", help="time limit per task")
            launch.add_argument("--partition")
        else:
            launch.add_argument("--image", required=True, help="container image with posetraj installed")
            launch.add_argument("--volume-claim", required=True, help="PersistentVolumeClaim holding plan and output")
            launch.add_argument("--mount-path", default="/data")
            launch.add_argument("--name", default="posetraj-render", help="Job name")


def run(args: argparse.Namespace) -> int:
    from render.farm import FarmError
    from render.process_control import Interrupted

    try:
        _check_numbers(args)
        actions = {"plan": _plan, "render": _render, "ray": _ray, "status": _status, "slurm": _launch, "k8s": _launch}
        return actions[args.action](args)
    except (FarmError, RenderError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Interrupted as stop:  # before any clip started (the render loops report their own)
        print(stop, file=sys.stderr)
        return stop.exit_code


#: option -> (test, what it must be); options left unset (None) are not checked.
_NUMBER_RULES = {
    "limit": (lambda v: v >= 1, "an integer >= 1"),
    "redraws": (lambda v: v >= 0, "an integer >= 0"),
    "clip_timeout": (lambda v: math.isfinite(v) and v > 0, "a number of seconds > 0"),
    "shard_index": (lambda v: v >= 0, "an integer >= 0"),
    "num_shards": (lambda v: v >= 1, "an integer >= 1"),
    "workers": (lambda v: v >= 1, "an integer >= 1"),
    "threads": (lambda v: v >= 0, "an integer >= 0 (0: all cores)"),
    "shards": (lambda v: v >= 1, "an integer >= 1"),
    "cpus": (lambda v: v >= 1, "an integer >= 1"),
    "max_parallel": (lambda v: v >= 0, "an integer >= 0 (0: all)"),
}


def _check_numbers(args: argparse.Namespace) -> None:
    """A one-line error naming the first option whose number is out of range (never a silent default);
    the clip's own numbers (frames, fps, size, samples ...) are checked by the clip spec, by name."""
    for dest, (valid, wanted) in _NUMBER_RULES.items():
        value = getattr(args, dest, None)
        if value is not None and not valid(value):
            raise ValueError(f"--{dest.replace('_', '-')} must be {wanted}, got {value:g}")


def _plan(args: argparse.Namespace) -> int:
    from render.dataset import plan_clips
    from render.farm import DatasetPlan, write_plan
    from render.spec import default_clip_timeout_s

    if args.builtins:
        from assets_catalog.builtin import builtin_names, builtin_uri

        assets = [builtin_uri(name) for name in builtin_names(None if args.builtins == "all" else args.builtins)]
    elif args.catalog:
        from assets_catalog.splits import split_assets

        assets = split_assets(args.catalog, args.split)
    else:
        assets = list(args.assets)
        _check_assets(assets)
    assets = assets[: args.limit] if args.limit else assets
    user = user_path_specs(args, assets, preset=args.preset, **clip_options(args))
    specs = user if user is not None else plan_clips(assets, args.trajectories, seeds=args.seeds,
                                                     pose_modes=args.pose_modes, preset=args.preset, **clip_options(args))
    redraws = 0 if user is not None else args.redraws  # a user path is rendered as given or fails
    timeout = args.clip_timeout or max(default_clip_timeout_s(spec) for spec in specs)
    path = write_plan(DatasetPlan(tuple(specs), redraws, timeout), args.out)
    paths = "1 user path" if user is not None else f"{len(args.trajectories)} trajectories"
    print(f"plan: {len(specs)} clips ({len(assets)} assets x {paths} x "
          f"{len(args.pose_modes)} pose modes x {len(args.seeds)} seeds, preset {args.preset}, "
          f"{timeout:g} s per clip at most) -> {path}")
    return 0


def _check_assets(refs: list[str]) -> None:
    """Unknown built-ins are an error; a missing file only a warning (workers may see other paths)."""
    from assets_catalog.builtin import BUILTIN_SCHEME, get_builtin

    for ref in refs:
        if ref.startswith(BUILTIN_SCHEME):
            get_builtin(ref[len(BUILTIN_SCHEME):])
        elif not Path(ref).expanduser().is_file():
            print(f"warning: {ref} does not exist on this machine (the workers must see it)", file=sys.stderr)


def _render(args: argparse.Namespace) -> int:
    from render.farm import Shard, collect, load_plan, run_shard, shard_from_environment
    from render.process_control import Interrupted, die_with_parent, interrupt_on_signals

    parent = os.environ.pop(PARENT_PID_ENV, None)
    if parent is not None:  # a --workers child: stop (cleanly) when that parent dies
        die_with_parent(int(parent), signal.SIGTERM)
    with interrupt_on_signals():
        plan = load_plan(args.plan)
        if args.workers is not None:
            if args.shard_index is not None or args.num_shards is not None:
                raise ValueError("--workers runs every shard here: do not combine it with --shard-index/--num-shards")
            return _run_local_workers(args, plan)
        if args.shard_index is not None:
            shard = Shard(args.shard_index, args.num_shards or 1)
        elif args.num_shards in (None, 1) and not {"SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"} & set(os.environ):
            shard = Shard(0, 1, "single worker")
        else:
            shard = shard_from_environment(args.num_shards)
        try:
            report = run_shard(plan, args.out, shard, threads=args.threads, progress=not args.no_progress,
                               clip_timeout_s=args.clip_timeout)
        except Interrupted as stop:
            print(f"{shard.name}: {stop}: the clip being rendered was abandoned and its work folder removed; "
                  f"finished clips are kept; run the same command again to resume", file=sys.stderr)
            print(collect(plan, args.out))
            return stop.exit_code
        status = collect(plan, args.out)
    elsewhere = len(report.published_elsewhere)
    print(f"{shard.name}: rendered {len(report.rendered)}, skipped {len(report.skipped)} ({len(report.skipped) - elsewhere} "
          f"already complete, {elsewhere} published by another worker meanwhile), failed {len(report.failed)}; {status}")
    return 1 if report.failed else 0


def _run_local_workers(args: argparse.Namespace, plan) -> int:
    """``--workers K``: K shard workers as subprocesses of this machine, then one merged status. Each worker
    leads its own process group and stops when this process dies; a worker that dies is named at once."""
    from render.farm import collect
    from render.process_control import Interrupted, describe_exit
    from render.workdirs import sweep

    count, out = args.workers, Path(args.out)
    threads = args.threads or max(1, (os.cpu_count() or 1) // count)
    logs = out / "shards"
    logs.mkdir(parents=True, exist_ok=True)
    workers: list[_Worker] = []
    try:
        for index in range(count):
            command = [sys.executable, "-m", "posetraj", "dataset", "render", "--plan", str(args.plan),
                       "--out", str(out), "--shard-index", str(index), "--num-shards", str(count),
                       "--threads", str(threads), "--no-progress",
                       *(["--clip-timeout", repr(args.clip_timeout)] if args.clip_timeout else [])]
            log_path = logs / f"worker-{index:05d}-of-{count:05d}.log"
            with open(log_path, "w") as log:
                process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                           env=os.environ | {PARENT_PID_ENV: str(os.getpid())})
            workers.append(_Worker(index, count, process, log_path))
        print(f"{count} workers ({threads} render threads each) on {len(plan.specs)} clips; logs in {logs}",
              file=sys.stderr)
        _follow(plan, out, workers, progress=not args.no_progress)
    except Interrupted as stop:
        print(f"{stop}: stopping {sum(w.process.poll() is None for w in workers)} workers", file=sys.stderr)
        for worker in workers:
            worker.stop(stop.signum)
        for worker in workers:
            print(f"{worker}: {describe_exit(worker.wait_or_kill())}", file=sys.stderr)
        sweep(out, max_age_s=math.inf)  # the work folders of renderers that died with a killed worker
        print(collect(plan, out))
        print("finished clips are kept; run the same command again to resume", file=sys.stderr)
        return stop.exit_code
    sweep(out, max_age_s=math.inf)
    status = collect(plan, out)
    print(status)
    died = [worker for worker in workers if worker.died]
    return 0 if not died and all(w.process.returncode == 0 for w in workers) and status.complete \
        and not status.failed else 1


class _Worker:
    """One ``--workers`` child: its shard, process and log."""

    def __init__(self, index: int, count: int, process: subprocess.Popen, log: Path):
        self.index, self.count, self.process, self.log = index, count, process, log
        self.reported = False

    def __str__(self) -> str:
        return f"worker {self.index} (shard {self.index} of {self.count}, pid {self.process.pid})"

    @property
    def died(self) -> bool:
        """Ended by a signal or with a status other than 0 (all done) and 1 (some clips failed)."""
        code = self.process.returncode
        return code is not None and code not in (0, 1)

    def stop(self, signum: int) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signum)
            except ProcessLookupError:
                pass

    def wait_or_kill(self) -> int:
        try:
            return self.process.wait(timeout=WORKER_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.stop(signal.SIGKILL)
            return self.process.wait()


def _ray(args: argparse.Namespace) -> int:
    from render.farm import collect, load_plan
    from render.process_control import Interrupted, interrupt_on_signals
    from render.ray_runner import RayConfig, render_with_ray

    config = RayConfig(num_shards=args.shards, cpus_per_shard=args.cpus, address=args.address,
                       clip_timeout_s=args.clip_timeout)
    with interrupt_on_signals():
        try:
            status = render_with_ray(args.plan, args.out, config, progress=not args.no_progress)
        except Interrupted as stop:
            print(f"{stop}: Ray tasks cancelled; finished clips are kept; run the same command again to resume",
                  file=sys.stderr)
            print(collect(load_plan(args.plan), args.out))
            return stop.exit_code
    print(status)
    return 0 if status.complete and not status.failed else 1


def _follow(plan, out: Path, workers: list[_Worker], progress: bool, every_s: float = 1.0) -> None:
    """A progress bar of the plan's finished clips (from the live records) while the workers run; a worker
    that dies (a signal, or an unexpected exit status) is named at once."""
    import time

    from tqdm import tqdm

    from render.live_status import FinishedClips
    from render.process_control import describe_exit

    finished = FinishedClips(out, (spec.clip_id for spec in plan.specs))
    with tqdm(total=finished.total, desc="render", unit="clip", disable=not progress, file=sys.stderr) as bar:
        while True:
            running = False
            for worker in workers:
                if worker.process.poll() is None:
                    running = True
                elif worker.died and not worker.reported:
                    worker.reported = True
                    bar.write(f"{worker} died: {describe_exit(worker.process.returncode)}; its clips are left "
                              f"for a rerun; log: {worker.log}", file=sys.stderr)
            bar.update(max(0, finished.count() - bar.n))
            if not running:
                return
            time.sleep(every_s)


def _status(args: argparse.Namespace) -> int:
    from render.farm import collect, load_plan

    status = collect(load_plan(args.plan), args.out)
    print(status)
    return 0


def _launch(args: argparse.Namespace) -> int:
    from render.farm import LaunchConfig, kubernetes_job, slurm_script

    common = dict(num_shards=args.shards, cpus=args.cpus, memory=args.memory, max_parallel=args.max_parallel,
                  command=args.command)
    if args.action == "slurm":
        text = slurm_script(args.plan, args.out, LaunchConfig(**common, time_limit=args.time),
                            partition=args.partition)
    else:
        text = kubernetes_job(args.plan, args.out, LaunchConfig(**common), image=args.image,
                              volume_claim=args.volume_claim, mount_path=args.mount_path, name=args.name)
    sys.stdout.write(text)
    return 0
