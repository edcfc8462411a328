"""Fault injection on the real CLI (``python -m posetraj dataset ...`` as subprocesses): SIGINT and SIGTERM
mid-clip with one worker and with ``--workers 2``, a worker killed with SIGKILL, a clip past
``--clip-timeout``, two processes on one shard, ``dataset status`` during a run, Ray interrupted and
unreachable, and bad numbers. docs/farm.md has the table of these faults and what each guarantees.

Every run carries a unique environment variable; after a run ends, no process on this machine may still
carry it (no orphans: workers, Blender children, Ray's processes). Waits are bounded (a fault that hangs
fails the test), but nothing is asserted about speed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from common.clip_format import MARKER_NAME, is_complete_clip, owner_tag
from render.dataset import plan_clips
from render.farm import DatasetPlan, write_plan

pytestmark = pytest.mark.blender
pytest.importorskip("bpy", reason="bpy is installed by the 'render' extra, which ./run.sh always installs")

MARK = "POSETRAJ_FAULT_TEST_RUN"
#: Clip sizes: a tiny clip (well under a second), a medium one (seconds: a signal lands mid-render) and
#: a heavy one (a minute or more: only ever stopped by its timeout).
SIZES = {
    "tiny": dict(num_frames=3, width=64, height=48, samples=1),
    "medium": dict(num_frames=6, width=128, height=96, samples=16),
    "heavy": dict(num_frames=12, width=320, height=240, samples=64),
}
STOP_BOUND_S = 60.0  # a stopped run must end within this (it takes seconds); past it the test fails
WAIT_BOUND_S = 120.0  # for a run to reach the state a fault is injected in


def _plan(tmp_path: Path, kinds: list[str], **plan_options) -> tuple[Path, list[str]]:
    """A plan of built-in car clips on the line trajectory, one per entry of ``kinds``, in that order."""
    specs = []
    for seed, kind in enumerate(kinds):
        specs += plan_clips(["builtin:car"], ["line"], seeds=[seed], **SIZES[kind])
    path = write_plan(DatasetPlan(tuple(specs), **plan_options), tmp_path / "plan.json")
    return path, [spec.clip_id for spec in specs]


class Run:
    """One CLI run in the background, its output in files, its descendants marked by an env variable."""

    def __init__(self, tmp_path: Path, argv: list[str], name: str = "run", umask: int | None = None):
        self.mark = uuid.uuid4().hex
        self.stdout_path, self.stderr_path = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        with open(self.stdout_path, "w") as stdout, open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "posetraj", *argv], stdout=stdout, stderr=stderr,
                env=os.environ | {MARK: self.mark}, preexec_fn=None if umask is None else (lambda: os.umask(umask)))

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def stop(self, signum: int) -> tuple[int, float]:
        """Send ``signum``; the exit status and the seconds it took to end (bounded)."""
        started = time.monotonic()
        self.process.send_signal(signum)
        code = self.process.wait(timeout=STOP_BOUND_S)
        return code, time.monotonic() - started

    def wait(self) -> int:
        return self.process.wait(timeout=600)

    def survivors(self) -> list[str]:
        """Command lines of processes that still carry this run's mark (after a short grace to be reaped)."""
        deadline = time.monotonic() + 10.0
        while True:
            found = _marked(self.mark)
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


def _marked(mark: str) -> list[str]:
    needle = f"{MARK}={mark}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle in (proc / "environ").read_bytes():
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return found


def _wait_until(condition, what: str, bound_s: float = WAIT_BOUND_S, run: Run | None = None):
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if run is not None and run.process.poll() is not None:
            pytest.fail(f"the run ended ({run.process.returncode}) before {what}:\n{run.stderr[-3000:]}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def _records(out: Path) -> dict[str, dict]:
    records = {}
    for path in (out / "status").glob("*.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # being replaced right now
        records[record["planned_clip_id"]] = record
    return records


def _rendering(out: Path, clip_id: str) -> bool:
    """The clip's record says running and its work folder exists: the signal lands mid-clip."""
    record = _records(out).get(clip_id)
    return bool(record and record["state"] == "running" and list(out.glob(f".{clip_id}.work-*")))


def _renderer_pid(out: Path, clip_id: str) -> int:
    """The Blender child rendering ``clip_id``, from its work folder's name (``.<id>.work-<host>-<pid>-*``)."""
    return int(next(out.glob(f".{clip_id}.work-*")).name.rsplit("-", 2)[-2])


def _temp_dirs(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if re.search(r"\.(work|tmp|old)-", p.name)) if out.exists() else []


def _complete(out: Path, ids: list[str]) -> dict[str, int]:
    """Complete clips among ``ids`` with their DONE marker's mtime (unchanged when a rerun skips them)."""
    return {c: (out / c / MARKER_NAME).stat().st_mtime_ns for c in ids if is_complete_clip(out / c)}


def _render_argv(plan: Path, out: Path, *extra: str) -> list[str]:
    return ["dataset", "render", "--plan", str(plan), "--out", str(out), *extra]


def _rerun_completes_exactly_the_missing(tmp_path: Path, plan: Path, out: Path, ids: list[str],
                                         before: dict[str, int], *extra: str) -> None:
    rerun = Run(tmp_path, _render_argv(plan, out, *extra), name="rerun")
    assert rerun.wait() == 0, rerun.stderr[-3000:]
    after = _complete(out, ids)
    assert set(after) == set(ids)
    assert {c: after[c] for c in before} == before  # finished clips were not rendered again
    assert f"dataset: {len(ids)} ok, 0 failed, 0 running, 0 pending" in rerun.stdout
    if not extra:  # one worker: its line counts what it rendered
        assert f"rendered {len(ids) - len(before)}, skipped {len(before)}" in rerun.stdout
    assert _temp_dirs(out) == [] and rerun.survivors() == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_one_worker_stops_mid_clip_and_a_rerun_completes_the_rest(tmp_path: Path, signum: int) -> None:
    plan, ids = _plan(tmp_path, ["tiny", "tiny", "medium", "tiny"])
    out = tmp_path / "data"
    run = Run(tmp_path, _render_argv(plan, out))
    _wait_until(lambda: _rendering(out, ids[2]), "the medium clip to render", run=run)

    status = subprocess.run([sys.executable, "-m", "posetraj", "dataset", "status", "--plan", str(plan), "--out",
                             str(out)], capture_output=True, text=True)
    assert status.returncode == 0, status.stderr
    assert "dataset: 2 ok, 0 failed, 1 running, 1 pending" in status.stdout  # live, before the shard ends
    assert re.search(rf"running for \d+s: {ids[2]} \(shard-00000-of-00001 on ", status.stdout), status.stdout

    if signum == signal.SIGTERM:  # as SLURM's scancel: every process of the job, the Blender child first
        os.kill(_renderer_pid(out, ids[2]), signal.SIGTERM)
    code, seconds = run.stop(signum)
    print(f"{signal.Signals(signum).name}: the worker ended {seconds:.2f} s after the signal")
    assert code == 128 + signum, run.stderr[-3000:]
    assert f"interrupted by {signal.Signals(signum).name}" in run.stderr and "Traceback" not in run.stderr
    assert run.survivors() == []
    assert _temp_dirs(out) == []
    before = _complete(out, ids)
    assert set(before) == set(ids[:2])
    assert _records(out)[ids[2]]["state"] == "interrupted"
    assert not (out / "failures").exists()  # an interruption is not the clip's failure
    assert "dataset: 2 ok, 0 failed, 0 running, 2 pending" in run.stdout
    _rerun_completes_exactly_the_missing(tmp_path, plan, out, ids, before)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_workers_stop_mid_clip_and_a_rerun_completes_the_rest(tmp_path: Path, signum: int) -> None:
    plan, ids = _plan(tmp_path, ["tiny", "tiny", "medium", "medium", "tiny", "tiny"])  # shard i: clips i, i+2, i+4
    out = tmp_path / "data"
    run = Run(tmp_path, _render_argv(plan, out, "--workers", "2"))
    _wait_until(lambda: _rendering(out, ids[2]) and _rendering(out, ids[3]), "both workers to render", run=run)
    code, seconds = run.stop(signum)
    print(f"{signal.Signals(signum).name}: --workers 2 ended {seconds:.2f} s after the signal")
    assert code == 128 + signum, run.stderr[-3000:]
    name = signal.Signals(signum).name
    for index in (0, 1):
        assert re.search(rf"worker {index} \(shard {index} of 2, pid \d+\): exited with status {128 + signum} "
                         rf"\(interrupted by {name}\)", run.stderr), run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert run.survivors() == []
    assert _temp_dirs(out) == []
    before = _complete(out, ids)
    assert set(before) == set(ids[:2])
    assert {_records(out)[c]["state"] for c in ids[2:4]} == {"interrupted"}
    _rerun_completes_exactly_the_missing(tmp_path, plan, out, ids, before, "--workers", "2")


def test_a_killed_worker_is_named_and_a_rerun_cleans_up_and_completes(tmp_path: Path) -> None:
    """SIGKILL (the OOM killer, a node lost) cannot be handled: the parent names the dead worker, its
    Blender child dies with it, the stale work folder is removed by the next shard, which completes the
    missing clips; a stale folder of another host older than the clip timeout goes too, a fresh one stays."""
    plan, ids = _plan(tmp_path, ["tiny", "tiny", "medium", "medium", "tiny", "tiny"], clip_timeout_s=60.0)
    out = tmp_path / "data"
    run = Run(tmp_path, _render_argv(plan, out, "--workers", "2"))
    _wait_until(lambda: _rendering(out, ids[3]), "worker 1 to render its medium clip", run=run)
    victim = _records(out)[ids[3]]["pid"]
    os.kill(victim, signal.SIGKILL)
    assert run.wait() == 1
    assert re.search(rf"worker 1 \(shard 1 of 2, pid {victim}\) died: killed by SIGKILL", run.stderr), run.stderr
    assert run.survivors() == []  # the killed worker's Blender child died with it
    assert _temp_dirs(out) == []  # and the parent removed that child's work folder
    assert set(_complete(out, ids)) >= {ids[0], ids[2], ids[4]}  # worker 0 finished its shard
    assert not is_complete_clip(out / ids[3])
    status = subprocess.run([sys.executable, "-m", "posetraj", "dataset", "status", "--plan", str(plan), "--out",
                             str(out)], capture_output=True, text=True)
    assert " 0 running, " in status.stdout  # the dead worker's clip is not shown as running

    # leftovers of runs killed outright: a dead process of this host, an hour-old folder of another host,
    # and a fresh one of another host (maybe rendering now: kept)
    dead_here = out / f".ghost.work-{owner_tag(4_194_399)}-zz9"  # above Linux's largest pid: not alive
    old, fresh = out / ".ghost.work-farnode-77-abc123", out / ".ghost.tmp-farnode-78-def456"
    for folder in (dead_here, old, fresh):
        folder.mkdir()
        (folder / "pass.exr").write_bytes(b"x")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    before = _complete(out, ids)
    rerun = Run(tmp_path, _render_argv(plan, out, "--shard-index", "1", "--num-shards", "2"), name="rerun")
    assert rerun.wait() == 0, rerun.stderr[-3000:]
    assert _temp_dirs(out) == [fresh.name]
    assert set(_complete(out, ids)) == set(ids) and {c: _complete(out, ids)[c] for c in before} == before
    assert rerun.survivors() == []


def test_workers_of_a_killed_parent_stop_cleanly(tmp_path: Path) -> None:
    """SIGKILL to the ``--workers`` parent: its workers get SIGTERM from the kernel (they asked for it when
    their parent dies) and stop as if interrupted; nothing keeps running, no work folder is left."""
    plan, ids = _plan(tmp_path, ["medium", "medium"])
    out = tmp_path / "data"
    run = Run(tmp_path, _render_argv(plan, out, "--workers", "2"))
    _wait_until(lambda: _rendering(out, ids[0]) and _rendering(out, ids[1]), "both workers to render", run=run)
    code, _ = run.stop(signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert run.survivors() == []
    _wait_until(lambda: {r["state"] for r in _records(out).values()} == {"interrupted"}, "the workers' records",
                bound_s=STOP_BOUND_S)
    assert _temp_dirs(out) == []
    assert "interrupted by SIGTERM" in (out / "shards" / "worker-00000-of-00002.log").read_text()


def test_a_render_child_that_dies_fails_its_clip_and_the_shard_goes_on(tmp_path: Path) -> None:
    """The OOM killer (or a crash in Blender) ends the render child, not the worker."""
    plan, ids = _plan(tmp_path, ["medium", "tiny"])
    out = tmp_path / "data"
    run = Run(tmp_path, _render_argv(plan, out, "--no-progress"))
    _wait_until(lambda: _rendering(out, ids[0]), "the medium clip to render", run=run)
    os.kill(_renderer_pid(out, ids[0]), signal.SIGKILL)
    assert run.wait() == 1, run.stderr[-3000:]
    assert "rendered 1, skipped 0" in run.stdout and "failed 1" in run.stdout
    failure = json.loads((out / "failures" / f"{ids[0]}.json").read_text())
    assert (failure["code"], failure["message"]) == ("render_failed", "the render process killed by SIGKILL")
    assert set(_complete(out, ids)) == {ids[1]} and _temp_dirs(out) == [] and run.survivors() == []


def test_a_clip_past_its_timeout_fails_and_the_shard_goes_on(tmp_path: Path) -> None:
    plan, ids = _plan(tmp_path, ["tiny", "heavy", "tiny"])
    out = tmp_path / "data"
    run = Run(tmp_path, _render_argv(plan, out, "--clip-timeout", "6", "--no-progress"), umask=0o027)
    assert run.wait() == 1, run.stderr[-3000:]
    assert "rendered 2, skipped 0" in run.stdout and "failed 1" in run.stdout
    assert set(_complete(out, ids)) == {ids[0], ids[2]}
    failure = json.loads((out / "failures" / f"{ids[1]}.json").read_text())
    assert failure["code"] == "timeout" and "after 6 s" in failure["message"]
    assert "log_tail" in failure  # what Blender's log of the abandoned clip had flushed when it was stopped
    record = _records(out)[ids[1]]
    assert (record["state"], record["code"]) == ("failed", "timeout")
    assert "dataset: 2 ok, 1 failed, 0 running, 0 pending" in run.stdout
    assert _temp_dirs(out) == [] and run.survivors() == []
    # published folders and files follow the process's umask (027: group may read, others nothing)
    clip = out / ids[0]
    assert clip.stat().st_mode & 0o777 == 0o750
    for path in [*clip.iterdir(), out / "dataset.json", out / "status" / f"{ids[0]}.json",
                 out / "failures" / f"{ids[1]}.json", out / "shards" / "shard-00000-of-00001.json"]:
        assert path.stat().st_mode & 0o777 == 0o640, path


def test_two_processes_on_one_shard_share_it_without_errors(tmp_path: Path) -> None:
    """A requeued SLURM task while the first still runs: both succeed, each clip is published once."""
    plan, ids = _plan(tmp_path, ["medium", "medium", "medium", "medium"])
    out = tmp_path / "data"
    argv = _render_argv(plan, out, "--shard-index", "0", "--num-shards", "1", "--no-progress")
    first = Run(tmp_path, argv, name="first")
    _wait_until(lambda: _rendering(out, ids[0]), "the first process to render", run=first)
    second = Run(tmp_path, argv, name="second")
    assert first.wait() == 0 and second.wait() == 0, first.stderr + second.stderr
    counts = []
    for run in (first, second):
        assert "Traceback" not in run.stderr and "error" not in run.stderr.lower(), run.stderr
        match = re.search(r"rendered (\d+), skipped (\d+) \((\d+) already complete, (\d+) published by another "
                          r"worker meanwhile\), failed 0", run.stdout)
        assert match, run.stdout
        counts.append([int(g) for g in match.groups()])
        assert counts[-1][0] + counts[-1][1] == len(ids) and counts[-1][2] + counts[-1][3] == counts[-1][1]
    assert counts[0][0] + counts[1][0] == len(ids)  # every clip published by exactly one of them
    assert counts[1][0] >= 1  # the second did not just wait: it took clips the first had not reached
    assert set(_complete(out, ids)) == set(ids) and _temp_dirs(out) == []
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(
        [*ids, "dataset.json", "shards", "status"])


def test_ray_interrupted_mid_clip_cancels_its_tasks(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is installed by the 'farm' extra, which ./run.sh always installs")
    plan, ids = _plan(tmp_path, ["tiny", "tiny", "medium", "medium"])  # 2 shards: clips 0, 2 and 1, 3
    out = tmp_path / "data"
    run = Run(tmp_path, ["dataset", "ray", "--plan", str(plan), "--out", str(out), "--shards", "2"])
    _wait_until(lambda: _rendering(out, ids[2]) and _rendering(out, ids[3]) and re.search(r"\b2/4 \[", run.stderr),
                "both Ray tasks to render, the tiny clips counted", run=run)
    code, seconds = run.stop(signal.SIGINT)
    print(f"SIGINT: dataset ray ended {seconds:.2f} s after the signal")
    assert code == 130, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert re.search(r"ray: +50%.*\b2/4 \[", run.stderr), run.stderr[-2000:]  # the bar counts clips, not shards
    assert run.survivors() == []  # Ray's own processes included
    assert _temp_dirs(out) == []
    complete, records = set(_complete(out, ids)), _records(out)
    assert set(ids[:2]) <= complete
    # each task stopped its clip; on a loaded machine a clip can be published in the instant the signal
    # arrives, and then it is complete and recorded ok (never a complete clip recorded as interrupted)
    for clip_id in ids[2:]:
        assert records[clip_id]["state"] == ("ok" if clip_id in complete else "interrupted"), records[clip_id]
    assert len(complete) < len(ids), "the signal landed after every clip was done: nothing was interrupted"


BAD_ARGUMENTS = [
    (["plan", "--builtins", "--frames", "0"], "num_frames must be an integer >= 2, got 0"),
    (["plan", "--builtins", "--fps", "0"], "fps must be a finite number > 0, got 0"),
    (["plan", "--builtins", "--samples", "-1"], "samples must be >= 1, got -1"),
    (["plan", "--builtins", "--width", "200000", "--height", "200000"], "above the cap of 8192 pixels per side"),
    (["plan", "--builtins", "--width", "8000", "--height", "8000"], "above the cap of 100,000,000 pixel-frames"),
    (["plan", "--builtins", "--redraws", "-1"], "--redraws must be an integer >= 0, got -1"),
    (["plan", "--builtins", "--clip-timeout", "0"], "--clip-timeout must be a number of seconds > 0, got 0"),
    (["render", "--workers", "0"], "--workers must be an integer >= 1, got 0"),
    (["render", "--workers", "-2"], "--workers must be an integer >= 1, got -2"),
    (["render", "--threads", "-1"], "--threads must be an integer >= 0 (0: all cores), got -1"),
    (["render", "--shard-index", "-1", "--num-shards", "2"], "--shard-index must be an integer >= 0, got -1"),
    (["render", "--num-shards", "0"], "--num-shards must be an integer >= 1, got 0"),
    (["render", "--clip-timeout", "-5"], "--clip-timeout must be a number of seconds > 0, got -5"),
    (["ray", "--shards", "0"], "--shards must be an integer >= 1, got 0"),
    (["render", "UNKNOWN-FIELD"], "unknown plan field 'colour'"),
    (["ray", "--shards", "1", "--address", "127.0.0.1:9"], "cannot reach the Ray cluster at 127.0.0.1:9"),
]


@pytest.mark.parametrize("argv, message", BAD_ARGUMENTS, ids=[" ".join(a) for a, _ in BAD_ARGUMENTS])
def test_bad_numbers_and_fields_get_one_line_naming_them(tmp_path: Path, argv: list[str], message: str) -> None:
    plan, _ = _plan(tmp_path, ["tiny"])
    if "UNKNOWN-FIELD" in argv:
        data = json.loads(plan.read_text()) | {"colour": "blue"}
        plan.write_text(json.dumps(data))
        argv = argv[:-1]
    where = ["--out", str(tmp_path / "x.json")] if argv[0] == "plan" else ["--plan", str(plan), "--out",
                                                                              str(tmp_path / "data")]
    done = subprocess.run([sys.executable, "-m", "posetraj", "dataset", *argv, *where], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], done.stderr
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "data").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_posetraj_render_stops_mid_clip(tmp_path: Path, signum: int) -> None:
    """One clip with ``posetraj render``: Blender renders in a child, so the signal stops it at once, with
    no process and no work folder left, and nothing that looks like a clip; a rerun renders it."""
    out = tmp_path / "clips"
    argv = ["render", "--asset", "builtin:car", "--trajectory", "line", "--seed", "0", "--frames", "6",
            "--width", "128", "--height", "96", "--samples", "16", "--out", str(out)]
    run = Run(tmp_path, argv)
    _wait_until(lambda: out.exists() and list(out.glob(".*.work-*")), "the clip to render", run=run)
    code, seconds = run.stop(signum)
    print(f"{signal.Signals(signum).name}: posetraj render ended {seconds:.2f} s after the signal")
    assert code == 128 + signum, run.stderr[-3000:]
    assert f"interrupted by {signal.Signals(signum).name}" in run.stderr and "Traceback" not in run.stderr
    assert run.survivors() == [] and _temp_dirs(out) == []
    assert not [p for p in out.iterdir() if is_complete_clip(p)]
    rerun = Run(tmp_path, argv, name="rerun")
    assert rerun.wait() == 0, rerun.stderr[-3000:]
    assert is_complete_clip(Path(rerun.stdout.strip().splitlines()[-1]))
