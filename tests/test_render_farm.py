"""Farm execution: plan files, deterministic shards, scheduler indices, launch files, and merging."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from common.clip_format import MARKER_NAME
from render.dataset import plan_clips
from posetraj.commands.dataset import build_parser
from render.farm import (SHARDS_DIR, DatasetPlan, FarmError, LaunchConfig, Shard, collect, kubernetes_job,
                         load_plan, shard_from_environment, slurm_script, write_plan)

TINY = dict(num_frames=2, width=64, height=48, samples=1)


def _plan(assets=("builtin:car", "builtin:chair"), trajectories=("line", "half_circle"), seeds=(0, 1)) -> DatasetPlan:
    return DatasetPlan(tuple(plan_clips(list(assets), list(trajectories), seeds=seeds, **TINY)), redraws_out_of_frame=3)


def _cli_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    build_parser(parser)
    return parser.parse_args(argv)


def test_plan_round_trip_and_digest(tmp_path: Path) -> None:
    plan = _plan()
    assert len(plan.specs) == 8
    loaded = load_plan(write_plan(plan, tmp_path / "sub" / "plan.json"))
    assert [s.to_dict() for s in loaded.specs] == [s.to_dict() for s in plan.specs]
    assert loaded.redraws_out_of_frame == 3 and loaded.digest == plan.digest
    assert _plan(seeds=(0, 2)).digest != plan.digest
    with pytest.raises(FarmError, match="same clip id"):
        DatasetPlan(plan.specs + plan.specs[:1])


@pytest.mark.parametrize("content, message", [
    ("{not json", "not a JSON plan"),
    ('{"schema_version": 99, "clips": []}', "schema_version 99"),
    ('{"schema_version": 1, "clips": []}', "non-empty list"),
])
def test_malformed_plan_files_name_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(FarmError, match=message) as info:
        load_plan(path)
    assert str(path) in str(info.value)
    with pytest.raises(FarmError, match="not found"):
        load_plan(tmp_path / "missing.json")


def test_a_bad_clip_in_a_plan_is_named_by_its_index(tmp_path: Path) -> None:
    data = _plan().to_dict()
    data["clips"][5]["trajectory"]["name"] = "no_such_family"
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    with pytest.raises(FarmError, match=r"plan.json: clip 5: .*no_such_family"):
        load_plan(path)


def test_shards_partition_the_plan_evenly() -> None:
    specs = _plan(seeds=(0, 1, 2)).specs  # 12 clips
    for count in (1, 5, 12, 20):
        parts = [Shard(i, count).select(specs) for i in range(count)]
        ids = [s.clip_id for part in parts for s in part]
        assert sorted(ids) == sorted(s.clip_id for s in specs) and len(set(ids)) == len(specs)
        sizes = [len(p) for p in parts]
        assert max(sizes) - min(sizes) <= 1
    with pytest.raises(FarmError, match=r"not in \[0, 4\)"):
        Shard(4, 4)


def test_shard_index_from_slurm_and_kubernetes() -> None:
    slurm = {"SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_COUNT": "5"}
    assert shard_from_environment(None, slurm) == Shard(2, 5, "SLURM_ARRAY_TASK_ID")
    assert shard_from_environment(8, slurm).count == 8
    assert shard_from_environment(4, {"JOB_COMPLETION_INDEX": "3"}) == Shard(3, 4, "JOB_COMPLETION_INDEX")
    with pytest.raises(FarmError, match="--num-shards"):
        shard_from_environment(None, {"JOB_COMPLETION_INDEX": "3"})
    with pytest.raises(FarmError, match="not an integer"):
        shard_from_environment(4, {"JOB_COMPLETION_INDEX": "three"})
    with pytest.raises(FarmError, match="no shard given"):
        shard_from_environment(4, {})
    with pytest.raises(FarmError, match=r"not in \[0, 4\)"):
        shard_from_environment(4, {"JOB_COMPLETION_INDEX": "4"})


def test_slurm_script_runs_one_valid_worker_command_per_array_task(tmp_path: Path) -> None:
    script = slurm_script(Path("/shared/plan.json"), Path("/shared/out dir"),
                          LaunchConfig(num_shards=40, cpus=8, max_parallel=10, command="/opt/venv/bin/posetraj"),
                          partition="cpu")
    path = tmp_path / "job.sbatch"
    path.write_text(script)
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    assert "#SBATCH --array=0-39%10" in script and "#SBATCH --cpus-per-task=8" in script
    assert "#SBATCH --partition=cpu" in script
    exec_line = next(line for line in script.splitlines() if line.startswith("exec "))
    argv = shlex.split(exec_line)[1:]
    assert argv[:3] == ["/opt/venv/bin/posetraj", "dataset", "render"]
    args = _cli_args(argv[2:])
    assert (args.plan, args.out, args.num_shards, args.threads) == (Path("/shared/plan.json"), Path("/shared/out dir"), 40, 8)
    assert args.shard_index is None  # taken from SLURM_ARRAY_TASK_ID


def test_kubernetes_indexed_job(tmp_path: Path) -> None:
    text = kubernetes_job("/data/plan.json", "/data/out", LaunchConfig(num_shards=16, cpus=2, memory="6G", max_parallel=4),
                          image="registry/posetraj:1", volume_claim="renders")
    job = yaml.safe_load(text)
    spec = job["spec"]
    assert job["kind"] == "Job" and spec["completionMode"] == "Indexed"
    assert spec["completions"] == 16 and spec["parallelism"] == 4
    container = spec["template"]["spec"]["containers"][0]
    assert container["image"] == "registry/posetraj:1"
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "6Gi"}
    assert spec["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "renders"
    args = _cli_args(container["command"][2:])
    assert (args.action, args.num_shards, str(args.out)) == ("render", 16, "/data/out")


def _fake_shard(out: Path, plan: DatasetPlan, shard: Shard, statuses: dict[str, str], digest: str | None = None) -> None:
    """A shard manifest as run_shard writes it, and finished clip directories for the 'ok' clips."""
    clips = []
    for spec in shard.select(plan.specs):
        status = statuses.get(spec.clip_id, "ok")
        if status == "ok":
            (out / spec.clip_id).mkdir(parents=True, exist_ok=True)
            (out / spec.clip_id / MARKER_NAME).write_text("{}")
        clips.append({"clip_id": spec.clip_id, "planned_clip_id": spec.clip_id, "status": status,
                      **({"error": "asset_not_found: x"} if status == "failed" else {})})
    (out / SHARDS_DIR).mkdir(parents=True, exist_ok=True)
    (out / SHARDS_DIR / f"{shard.name}.json").write_text(json.dumps(
        {"schema_version": 1, "plan_digest": digest or plan.digest, "clips": clips}))


def test_collect_merges_shards_and_reports_pending_failed_and_lost_clips(tmp_path: Path) -> None:
    plan = _plan()
    failed_id = Shard(1, 3).select(plan.specs)[0].clip_id
    _fake_shard(tmp_path, plan, Shard(0, 3), {})
    _fake_shard(tmp_path, plan, Shard(1, 3), {failed_id: "failed"})
    _fake_shard(tmp_path, _plan(seeds=(5,)), Shard(2, 3), {}, digest="another-plan")
    status = collect(plan, tmp_path)
    shard0, shard1, shard2 = (len(Shard(i, 3).select(plan.specs)) for i in range(3))
    assert (status.ok, status.failed, status.pending) == (shard0 + shard1 - 1, 1, shard2)
    manifest = json.loads(status.manifest.read_text())
    assert [c["planned_clip_id"] for c in manifest["clips"]] == [s.clip_id for s in plan.specs]
    assert next(c for c in manifest["clips"] if c["clip_id"] == failed_id)["error"].startswith("asset_not_found")
    # a clip reported ok but deleted since is pending again; a later success replaces a failure
    lost = Shard(0, 3).select(plan.specs)[0].clip_id
    (tmp_path / lost / MARKER_NAME).unlink()
    _fake_shard(tmp_path, plan, Shard(0, 1), {})  # a later run with one shard renders everything
    (tmp_path / lost / MARKER_NAME).unlink()
    status = collect(plan, tmp_path)
    assert (status.ok, status.failed, status.pending) == (len(plan.specs) - 1, 0, 1)


@pytest.mark.blender
def test_local_workers_render_the_plan_and_a_rerun_renders_nothing(tmp_path: Path) -> None:
    pytest.importorskip("bpy", reason="bpy is installed by the 'render' extra, which ./run.sh always installs")
    plan_path = write_plan(_plan(trajectories=("line",), seeds=(0,)), tmp_path / "plan.json")  # 2 clips
    out = tmp_path / "data"
    command = [sys.executable, "-m", "posetraj", "dataset", "render", "--plan", str(plan_path), "--out", str(out)]
    done = subprocess.run([*command, "--workers", "2"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "dataset: 2 ok, 0 failed, 0 running, 0 pending" in done.stdout
    manifest = json.loads((out / "dataset.json").read_text())
    assert all((out / c["clip_id"] / MARKER_NAME).is_file() for c in manifest["clips"])
    assert sorted(p.name for p in (out / SHARDS_DIR).glob("shard-*.json")) == [
        "shard-00000-of-00002.json", "shard-00001-of-00002.json"]
    again = subprocess.run([*command, "--shard-index", "1", "--num-shards", "2", "--no-progress"],
                           capture_output=True, text=True)
    assert again.returncode == 0 and "rendered 0, skipped 1" in again.stdout, again.stderr
    bad = subprocess.run([*command, "--num-shards", "3"], capture_output=True, text=True)
    assert bad.returncode == 2 and "no shard given" in bad.stderr


@pytest.mark.blender
def test_ray_runs_one_task_per_shard(tmp_path: Path) -> None:
    pytest.importorskip("bpy", reason="bpy is installed by the 'render' extra, which ./run.sh always installs")
    pytest.importorskip("ray", reason="Ray is installed by the 'farm' extra, which ./run.sh always installs")
    from render.ray_runner import RayConfig, render_with_ray

    plan = _plan(trajectories=("line",), seeds=(0,))  # 2 clips
    plan_path = write_plan(plan, tmp_path / "plan.json")
    status = render_with_ray(plan_path, tmp_path / "data", RayConfig(num_shards=2), progress=False,
                             init_options={"num_cpus": 2})
    assert (status.ok, status.failed, status.pending) == (2, 0, 0)
    assert sorted(p.name for p in (tmp_path / "data" / SHARDS_DIR).glob("shard-*.json")) == [
        "shard-00000-of-00002.json", "shard-00001-of-00002.json"]
    assert all((tmp_path / "data" / s.clip_id / MARKER_NAME).is_file() for s in plan.specs)
    with pytest.raises(FarmError, match="not found"):
        render_with_ray(tmp_path / "missing.json", tmp_path / "data", RayConfig(num_shards=1), progress=False)


def test_plan_command_writes_a_plan_and_rejects_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from posetraj.commands.dataset import run

    out = tmp_path / "plan.json"
    args = _cli_args(["plan", "--assets", "builtin:car", "builtin:boat", "--trajectories", "line", "u_turn",
                      "--pose-modes", "yaw", "spin", "--seeds", "0-2", "--frames", "4", "--png", "--track-points", "64",
                      "--speed-profile", "ease", "--filter-width", "0.01", "--plate-samples", "64",
                      "--out", str(out)])
    assert run(args) == 0
    plan = load_plan(out)
    assert len(plan.specs) == 2 * 2 * 2 * 3 and plan.specs[0].trajectory.num_frames == 4
    first = plan.specs[0]
    assert first.write_png and first.num_track_points == 64 and first.trajectory.speed_profile == "ease"
    assert first.settings.filter_width == 0.01 and first.settings.plate_samples == 64
    assert plan.clip_timeout_s == 900.0  # the draft preset's limit, recorded
    assert {s.trajectory.pose_mode for s in plan.specs} == {"yaw", "spin"}
    assert run(_cli_args(["plan", "--assets", "builtin:nope", "--out", str(tmp_path / "x.json")])) == 2
    assert "unknown built-in asset 'nope'" in capsys.readouterr().err
    assert run(_cli_args(["plan", "--builtins", "--trajectories", "zigzag", "--out", str(tmp_path / "x.json")])) == 2
    assert "unknown trajectory 'zigzag'" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
    with pytest.raises(SystemExit):
        _cli_args(["plan", "--builtins", "--seeds", "3-x", "--out", str(out)])


def test_plan_records_its_clip_timeout_and_refuses_unknown_fields(tmp_path: Path) -> None:
    plan = DatasetPlan(_plan().specs, redraws_out_of_frame=2, clip_timeout_s=120.0)
    loaded = load_plan(write_plan(plan, tmp_path / "plan.json"))
    assert loaded.clip_timeout_s == 120.0 and loaded.timeout_of(loaded.specs[0]) == 120.0
    assert _plan().timeout_of(_plan().specs[0]) == 900.0  # no limit in the plan: the draft preset's
    for field, value, message in [("colour", "blue", "unknown plan field 'colour'"),
                                  ("clip_timeout_s", 0, "clip_timeout_s must be a number of seconds > 0, got 0"),
                                  ("clip_timeout_s", "1h", "clip_timeout_s must be a number of seconds > 0"),
                                  ("redraws_out_of_frame", "5", "redraws_out_of_frame must be an integer >= 0")]:
        (tmp_path / "bad.json").write_text(json.dumps(plan.to_dict() | {field: value}))
        with pytest.raises(FarmError, match=message) as info:
            load_plan(tmp_path / "bad.json")
        assert str(tmp_path / "bad.json") in str(info.value)


def test_clip_numbers_are_never_replaced_by_defaults_and_sizes_are_capped() -> None:
    from render.errors import RenderError
    from render.spec import MAX_PIXEL_FRAMES, default_clip_timeout_s, make_clip_spec

    with pytest.raises(RenderError, match="num_frames must be an integer >= 2, got 0"):
        make_clip_spec("builtin:car", "line", num_frames=0)
    with pytest.raises(RenderError, match="fps must be a finite number > 0, got 0"):
        make_clip_spec("builtin:car", "line", fps=0)
    with pytest.raises(RenderError, match="above the cap of 8192 pixels per side"):
        make_clip_spec("builtin:car", "line", width=200000, height=200000)
    with pytest.raises(RenderError, match="pixel-frames"):
        make_clip_spec("builtin:car", "line", width=4096, height=4096, num_frames=8)
    assert 4096 * 4096 * 5 <= MAX_PIXEL_FRAMES
    make_clip_spec("builtin:car", "line", width=4096, height=4096, num_frames=5)  # under the cap
    draft = make_clip_spec("builtin:car", "line")
    assert default_clip_timeout_s(draft) == 900.0
    assert default_clip_timeout_s(make_clip_spec("builtin:car", "line", **TINY)) == 900.0  # never below the preset's
    big = make_clip_spec("builtin:car", "line", width=576, height=384, num_frames=64)  # 8x the draft's pixel-frames
    assert default_clip_timeout_s(big) == pytest.approx(8 * 900.0)
    assert default_clip_timeout_s(make_clip_spec("builtin:car", "line", preset="paper")) == 7200.0


def _record(out: Path, planned: str, state: str, owner: str, age_s: float = 5.0, **fields) -> None:
    import time

    (out / "status").mkdir(parents=True, exist_ok=True)
    (out / "status" / f"{planned}.json").write_text(json.dumps(
        {"schema_version": 1, "planned_clip_id": planned, "clip_id": planned, "state": state, "owner": owner,
         "pid": int(owner.rsplit("-", 1)[1]), "started_at": time.time() - age_s, "worker": "shard-00003-of-00009",
         "timeout_s": 900.0, **fields}))


def test_status_reads_the_live_records(tmp_path: Path) -> None:
    """ok as soon as a clip is published, running with its age (from this host only while its process
    lives; past its timeout flagged), failed with the reason, pending otherwise."""
    from common.clip_format import owner_tag

    plan = _plan(seeds=(0, 1, 2))  # 12 clips
    ids = [spec.clip_id for spec in plan.specs]
    (tmp_path / ids[0]).mkdir()
    (tmp_path / ids[0] / MARKER_NAME).write_text("{}")  # complete, no record and no manifest yet
    _record(tmp_path, ids[1], "running", owner_tag(), age_s=75)  # this process: alive
    _record(tmp_path, ids[2], "running", owner_tag(4_194_399))  # this host, a pid that cannot exist: stale
    _record(tmp_path, ids[3], "running", "farnode-12", age_s=30)  # another host, young
    _record(tmp_path, ids[4], "running", "farnode-12", age_s=5000)  # another host, past its timeout: lost?
    _record(tmp_path, ids[5], "failed", "farnode-12", code="timeout", error="timeout: still rendering after 900 s")
    _record(tmp_path, ids[6], "interrupted", owner_tag())
    _record(tmp_path, ids[8], "running", owner_tag(), age_s=4000)  # alive, but far past its timeout: stuck
    redrawn = "car_line_s1_redrawn"
    _record(tmp_path, ids[7], "ok", "farnode-12", clip_id=redrawn)
    (tmp_path / redrawn).mkdir()
    (tmp_path / redrawn / MARKER_NAME).write_text("{}")
    status = collect(plan, tmp_path)
    assert (status.ok, status.failed, len(status.running), status.pending) == (2, 1, 4, 5)
    assert [clip.clip_id for clip in status.running] == [ids[1], ids[3], ids[4], ids[8]]
    text = str(status)
    assert "dataset: 2 ok, 1 failed, 4 running, 5 pending" in text
    assert f"running for 1m15s: {ids[1]} (shard-00003-of-00009 on {owner_tag()})\n" in text
    assert f"running for 1h23m: {ids[4]} (shard-00003-of-00009 on farnode-12, past its 900 s timeout: stuck, " \
           f"or its worker lost?)" in text
    assert f"running for 1h06m: {ids[8]} (shard-00003-of-00009 on {owner_tag()}, past its 900 s timeout" in text
    manifest = {c["planned_clip_id"]: c for c in json.loads(status.manifest.read_text())["clips"]}
    assert manifest[ids[7]]["clip_id"] == redrawn and manifest[ids[7]]["status"] == "ok"
    assert manifest[ids[5]]["error"].startswith("timeout") and manifest[ids[2]]["status"] == "pending"
    assert not status.complete


def test_signals_become_interrupted_once_and_can_be_deferred() -> None:
    import os
    import signal as signals

    from render.process_control import Interrupted, deferred_interrupts, interrupt_on_signals

    before = signals.getsignal(signals.SIGTERM)
    with pytest.raises(Interrupted) as info:
        with interrupt_on_signals():
            with deferred_interrupts():
                os.kill(os.getpid(), signals.SIGTERM)
                for _ in range(1000):  # the handler runs here, but only records the signal
                    pass
                stopped_inside = False
            stopped_inside = True
    assert info.value.signum == signals.SIGTERM and info.value.exit_code == 143 and not stopped_inside
    with interrupt_on_signals():
        with pytest.raises(Interrupted) as info:
            os.kill(os.getpid(), signals.SIGINT)
            for _ in range(1000):
                pass
        os.kill(os.getpid(), signals.SIGINT)  # a second signal during clean-up is ignored
        for _ in range(1000):
            pass
    assert info.value.exit_code == 130 and signals.getsignal(signals.SIGTERM) is before


@pytest.mark.blender
def test_a_library_run_interrupted_by_ctrl_c_leaves_no_child_and_no_work_folder(tmp_path: Path) -> None:
    """Without the CLI's handlers (the benchmark's suite builder), Ctrl-C is a KeyboardInterrupt in the
    parent, which stops the render child at once and removes its work folder."""
    pytest.importorskip("bpy", reason="bpy is installed by the 'render' extra, which ./run.sh always installs")
    import os
    import signal as signals
    import threading
    import time

    from render.dataset import render_dataset
    from render.live_status import read_record
    from render.process_control import pid_alive

    # long enough (24 frames) that the interrupt lands while the clip renders, also on a loaded machine: one
    # landing after the clip was published counts it done, and the run then ends normally
    specs = plan_clips(["builtin:car"], ["line"], seeds=[0], num_frames=24, width=128, height=96, samples=8)
    children = []

    def interrupt_when_rendering() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list(tmp_path.glob(".*.work-*")):
            time.sleep(0.02)
        children.extend(int(p.name.split("-")[-2]) for p in tmp_path.glob(".*.work-*"))
        os.kill(os.getpid(), signals.SIGINT)

    # the premise: Python's own SIGINT handler (an earlier test of the session, through Ray or a CLI, may
    # have left another one installed)
    previous = signals.signal(signals.SIGINT, signals.default_int_handler)
    watcher = threading.Thread(target=interrupt_when_rendering)
    watcher.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            render_dataset(specs, tmp_path, progress=False)
    finally:
        watcher.join()
        signals.signal(signals.SIGINT, previous)
    assert children and not any(pid_alive(pid) for pid in children)
    assert not list(tmp_path.glob(".*.work-*")) and not list(tmp_path.glob(".*.tmp-*"))
    assert read_record(tmp_path, specs[0].clip_id)["state"] == "interrupted"
    assert json.loads((tmp_path / "dataset.json").read_text())["clips"] == []  # nothing ended


@pytest.mark.blender
def test_a_clip_published_by_another_worker_meanwhile_is_counted_as_theirs(tmp_path: Path) -> None:
    pytest.importorskip("bpy", reason="bpy is installed by the 'render' extra, which ./run.sh always installs")
    import threading
    import time

    from render.dataset import render_dataset

    specs = plan_clips(["builtin:car"], ["line"], seeds=[0], num_frames=4, width=128, height=96, samples=8)
    final = tmp_path / specs[0].clip_id

    def publish_while_rendering() -> None:  # what another worker's publish leaves: a folder with DONE
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list(tmp_path.glob(".*.work-*")):
            time.sleep(0.02)
        final.mkdir()
        (final / MARKER_NAME).write_text('{"written_by": "another worker"}')

    other = threading.Thread(target=publish_while_rendering)
    other.start()
    report = render_dataset(specs, tmp_path, progress=False)
    other.join()
    assert report.rendered == [] and report.skipped == report.published_elsewhere == [specs[0].clip_id]
    assert json.loads((final / MARKER_NAME).read_text()) == {"written_by": "another worker"}  # theirs is kept
    assert not list(tmp_path.glob(".*.work-*")) and not list(tmp_path.glob(".*.tmp-*"))


def test_a_signal_right_after_a_clip_was_published_records_it_ok(tmp_path: Path, monkeypatch) -> None:
    """The interrupt can land between publishing a clip and recording it (seen on a loaded machine with a
    Ray run): the complete clip's record then says ok, never interrupted; an unfinished one interrupted."""
    import render.dataset as dataset
    from render.live_status import read_record

    specs = plan_clips(["builtin:car"], ["line", "half_circle"], seeds=[0], **TINY)

    def publish_then_interrupt(spec, out_root, renderer, **kwargs):
        (out_root / spec.clip_id).mkdir()
        (out_root / spec.clip_id / MARKER_NAME).write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset, "render_with_redraws", publish_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        dataset.render_dataset(specs, tmp_path, progress=False)
    assert read_record(tmp_path, specs[0].clip_id)["state"] == "ok"
    assert read_record(tmp_path, specs[1].clip_id) is None  # never started

    def interrupt(spec, out_root, renderer, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset, "render_with_redraws", interrupt)
    with pytest.raises(KeyboardInterrupt):
        dataset.render_dataset(specs[1:], tmp_path / "other", progress=False)
    assert read_record(tmp_path / "other", specs[1].clip_id)["state"] == "interrupted"
