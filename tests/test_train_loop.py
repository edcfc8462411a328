"""posetraj train end to end on CPU with the tiny random SVD and tiny Blender clips (64x64, 8 frames):
overfitting, resume, two processes against one, stage chaining with the camera module, the trajectory
being learned, validation scored by the benchmark, TensorBoard logs, the CLI and SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("bpy", reason="bpy is installed by the 'render' extra, which ./run.sh always installs")

from posetraj.models.controlnet import TrajControlNetModel  # noqa: E402
from posetraj.training.config import ObjectiveConfig, load_config  # noqa: E402
from posetraj.training.loop import FrozenModels, train  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.blender]
REPO = Path(__file__).resolve().parent.parent
F = 8  # frames of the rendered clips (and of the tiny SVD's config)
WINDOW = 4  # frames of a training window
RUN = ["model.variant=null", "data.width=64", "data.height=64", f"data.num_frames={WINDOW}", "data.num_workers=0",
       "train.mixed_precision=no", "train.gradient_checkpointing=false", "train.log_every=1",
       "train.checkpoint_every=1000", "validation.num_inference_steps=2"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from posetraj.tiny import write_tiny_svd

    return write_tiny_svd(tmp_path_factory.mktemp("svd") / "svd", num_frames=F)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Clips of the train built-ins, 8 frames at 64x64: two with the default camera, one orbiting."""
    from render.dataset import render_dataset
    from render.spec import make_clip_spec

    root = tmp_path_factory.mktemp("loop_clips")
    tiny = dict(preset="draft", num_frames=F, width=64, height=64, samples=2)
    specs = {"duck": make_clip_spec("builtin:duck", "half_circle", seed=1, **tiny),
             "truck": make_clip_spec("builtin:truck", "s_curve", seed=2, **tiny),
             "orbit": make_clip_spec("builtin:robot", "line", seed=3, camera_mode="orbit", **tiny)}
    report = render_dataset(list(specs.values()), root / "clips", redraws_out_of_frame=3, progress=False,
                            stop_on_failure=True)
    return {name: root / "clips" / spec.clip_id for name, spec in zip(specs, report.final)}


def _config(name: str, tiny: Path, out: Path, paths, *overrides):
    return load_config(name, RUN + [f"model.svd={tiny}", f"output_dir={out}",
                                    f"data.paths={[str(p) for p in paths]}", *overrides])


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return TrajControlNetModel.from_pretrained(folder).state_dict()


def _max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def _fixed_loss(config, controlnet, frozen, seeds=(11, 12, 13), sigmas=(0.5, 1.0, 2.0, 4.0)) -> torch.Tensor:
    """Per-sample losses of fixed windows at fixed noise levels and noise (no dropout): the objective measured
    without its randomness. Returns (len(sigmas), len(seeds) * sources) losses."""
    from posetraj.models.time_ids import added_time_ids
    from posetraj.models.unet import ResidualUNet
    from posetraj.training.data import SkipLog, WindowDataset, collate, scan_sources
    from posetraj.training.objective import SampleDraws, edm_loss
    from posetraj.training.step import FrozenEncoders, encode_batch

    sources = scan_sources(config.data, SkipLog(verbose=False))
    dataset = WindowDataset(sources, config.data, controlnet.config.conditioning_encoding)
    batch = collate([dataset[(i, s)] for s in seeds for i in range(len(sources))])
    encoders = FrozenEncoders.from_components(frozen.vae, frozen.image_encoder, frozen.feature_extractor)
    video = batch["pixels"].permute(0, 1, 4, 2, 3).float() / 127.5 - 1.0
    size = video.shape[0]
    gens = [torch.Generator().manual_seed(i) for i in range(size)]
    encoded = encode_batch(None, video, batch["conditioning"], generator=gens, encoders=encoders)
    unet, objective = ResidualUNet(frozen.unet), ObjectiveConfig(conditioning_dropout_prob=0.0)
    ids = added_time_ids(6, 128, 0.02, size)
    losses = []
    for k, sigma in enumerate(sigmas):
        eps = torch.randn(encoded.latents.shape, generator=torch.Generator().manual_seed(100 + k))
        none = torch.zeros(size, dtype=torch.bool)
        draws = SampleDraws(torch.full((size,), sigma), eps, none, none, none, torch.zeros(size, dtype=torch.long))
        with torch.no_grad():
            losses.append(edm_loss(controlnet.eval(), unet, encoded.latents, encoded.image_latents,
                                   encoded.image_embeddings, ids, batch["conditioning"], draws, objective).per_sample)
    unet.remove_hooks()
    return torch.stack(losses)


def test_overfit_two_rendered_clips(tiny, tmp_path):
    """The training objective on two rendered clips (one window each), measured at fixed noise levels and
    noise, falls by at least half within 350 steps."""
    from render.dataset import render_dataset
    from render.spec import make_clip_spec

    spec = dict(preset="draft", num_frames=WINDOW, width=64, height=64, samples=2)
    report = render_dataset([make_clip_spec("builtin:duck", "half_circle", seed=1, **spec),
                             make_clip_spec("builtin:truck", "s_curve", seed=2, **spec)], tmp_path / "clips",
                            redraws_out_of_frame=3, progress=False, stop_on_failure=True)
    config = _config("pose", tiny, tmp_path / "run", [tmp_path / "clips" / c for c in report.clips], "optim.lr=2e-3",
                     "train.max_steps=350", "train.batch_size=2", "train.gradient_accumulation_steps=1",
                     "objective.conditioning_dropout_prob=0", "objective.single_frame_loss_weight=0",
                     f"data.cache_dir={tmp_path / 'cache'}", "train.log_every=10")
    result = train(config, progress=False)
    assert result.status == "completed" and result.step == 350
    frozen = FrozenModels.load(config.model, torch.float32)
    frozen.prepare("cpu", torch.float32, False)
    torch.manual_seed(config.train.seed)
    from posetraj.training.loop import build_controlnet

    initial = build_controlnet(config.model, config.objective, frozen.unet)
    before = float(_fixed_loss(config, initial, frozen).mean())
    after = float(_fixed_loss(config, TrajControlNetModel.from_pretrained(result.controlnet), frozen).mean())
    print(f"overfit: fixed-noise loss {before:.4f} -> {after:.4f} after 350 steps")
    assert after <= 0.5 * before, (before, after)
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in logged] == [1, *range(10, 351, 10)] and all(np.isfinite(e["train/loss"]) for e in logged)


def test_resume_reaches_the_weights_of_an_uninterrupted_run(tiny, clips, tmp_path):
    overrides = ["train.max_steps=6", "train.ema=true", "train.gradient_accumulation_steps=2", "optim.lr=1e-3",
                 "optim.lr_scheduler=linear", "optim.warmup_steps=2", "objective.single_frame_loss_weight=0.5",
                 "train.checkpoint_every=2", "train.keep_checkpoints=2", "model.use_camera=true"]
    paths = [clips["duck"], clips["orbit"]]
    whole = train(_config("pose", tiny, tmp_path / "whole", paths, *overrides), progress=False)
    # a run stopped twice: after 2 steps (session limit) and by a signal after its 4th step, then resumed;
    # loading in two worker processes changes nothing
    overrides = [*overrides, "data.num_workers=2"]
    first = train(_config("pose", tiny, tmp_path / "split", paths, *overrides, "train.session_steps=2"), progress=False)
    assert first.status == "paused" and first.controlnet is None
    calls = []
    second = train(_config("pose", tiny, tmp_path / "split", paths, *overrides), progress=False,
                   stop_requested=lambda: calls.append(1) or len(calls) >= 2)
    assert second.status == "interrupted" and second.step == 4 and second.summary["resumed_from"].endswith("02")
    last = train(_config("pose", tiny, tmp_path / "split", paths, *overrides), progress=False)
    assert last.status == "completed" and last.step == 6
    for name in ("controlnet", "controlnet_live"):  # EMA weights and the live ones
        assert _max_difference(_weights(whole.output_dir / name), _weights(last.output_dir / name)) == 0.0, name
    losses = [[json.loads(line)["train/loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
              for run in (tmp_path / "whole", tmp_path / "split")]
    assert losses[0] == losses[1]
    checkpoints = sorted(p.name for p in (tmp_path / "split" / "checkpoints").iterdir())
    assert checkpoints == ["checkpoint-00000004", "checkpoint-00000006"]  # keep 2
    state = json.loads((tmp_path / "split" / "checkpoints" / checkpoints[-1] / "trainer_state.json").read_text())
    assert state["position"] == 6 * 2 * 1 and state["schema_version"] == 1
    with pytest.raises(Exception, match="already has checkpoints"):
        train(_config("pose", tiny, tmp_path / "split", paths, *overrides, "train.resume=none"), progress=False)


def build_initial(tiny: Path) -> dict:
    """The state of a fresh ControlNet as ``train`` builds it (seed 0)."""
    from posetraj.training.loop import build_controlnet

    config = load_config("pose", [f"model.svd={tiny}", "model.variant=null"])
    torch.manual_seed(config.train.seed)
    return build_controlnet(config.model, config.objective, FrozenModels.load(config.model, torch.float32).unet).state_dict()


def test_gradients_are_clipped_before_every_optimiser_step(tiny, clips, tmp_path, monkeypatch):
    norms = []
    step = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        grads = [p.grad.norm() for group in self.param_groups for p in group["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack(grads))))
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
    train(_config("pose", tiny, tmp_path / "run", [clips["duck"]], "train.max_steps=3", "optim.max_grad_norm=0.01",
                  "train.gradient_accumulation_steps=1"), progress=False)
    logged = [json.loads(line)["train/grad_norm"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(norms) == 3 and all(n <= 0.01 * (1 + 1e-4) for n in norms)  # what AdamW saw: clipped
    assert all(n > 0.01 for n in logged)  # the logged norm is the one before clipping


def test_two_processes_reach_the_weights_of_one_process_with_twice_the_batch(tiny, clips, tmp_path):
    # AdamW divides each element's gradient by its running magnitude: with the default eps (1e-8) an element
    # whose gradient is ~0 moves by up to +-lr with the sign of float rounding (the weights then differ by up
    # to 1.4e-4 after 3 steps although the gradients agree). eps 1e-4 keeps such updates linear in the
    # gradient, so equal gradients must give equal weights to float precision.
    overrides = ["train.max_steps=3", "train.gradient_accumulation_steps=1", "optim.lr=1e-3", "optim.eps=1e-4",
                 "objective.single_frame_loss_weight=0.5"]
    paths = [clips["duck"], clips["truck"], clips["orbit"]]
    args = RUN + [f"model.svd={tiny}", f"output_dir={tmp_path / 'two'}", f"data.paths={[str(p) for p in paths]}",
                  "train.batch_size=1", *overrides]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                           str(29400 + os.getpid() % 500), "-m", "posetraj", "train", "--config", "pose",
                           "--no-progress", "--json", *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "two" / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["effective_batch"] == 2 and summary["samples_seen"] == 6
    one = train(_config("pose", tiny, tmp_path / "one", paths, "train.batch_size=2", *overrides), progress=False)
    assert one.summary["world_size"] == 1 and one.summary["effective_batch"] == 2
    logs = [[json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
            for run in ("two", "one")]
    for a, b in zip(*logs):  # the same losses and gradients at every step, to float precision
        for key in ("train/loss", "train/loss_main", "train/loss_single_frame", "train/grad_norm"):
            assert a[key] == pytest.approx(b[key], rel=1e-5), key
    two, one = _weights(tmp_path / "two" / "controlnet"), _weights(one.controlnet)
    difference = max(float((two[k] - one[k]).abs().max()) for k in two)
    print(f"two processes vs one: max weight difference {difference:.2e}")
    assert difference < 1e-6
    moved = torch.cat([(one[k] - v).abs().flatten() for k, v in TrajControlNetModel.from_pretrained(
        tmp_path / "one" / "checkpoints" / "checkpoint-00000003" / "controlnet").state_dict().items()])
    assert float(moved.max()) == 0.0  # the last checkpoint is the final model
    initial = build_initial(tiny)
    assert max(float((one[k] - initial[k]).abs().max()) for k in one) > 1e-3  # and it did train


def test_stages_chain_and_the_camera_module_starts_as_a_no_op(tiny, clips, tmp_path):
    stage1 = train(_config("pose", tiny, tmp_path / "pose", [clips["duck"]], "train.max_steps=2",
                           "train.gradient_accumulation_steps=1", "optim.lr=1e-3"), progress=False)
    stage2 = train(_config("clean", tiny, tmp_path / "clean", [clips["duck"]], f"model.init={stage1.controlnet}",
                           "train.max_steps=0"), progress=False)
    assert _max_difference(_weights(stage1.controlnet), _weights(stage2.controlnet)) == 0.0  # loaded by path
    config = TrajControlNetModel.from_pretrained(stage2.controlnet).config
    assert (config.fps_id, config.motion_bucket_id, config.noise_aug_strength) == (6, 128, 0.02)
    stage3 = train(_config("camera", tiny, tmp_path / "camera", [clips["orbit"]], f"model.init={stage2.controlnet}",
                           "train.max_steps=0"), progress=False)
    plain, with_camera = (TrajControlNetModel.from_pretrained(p).eval() for p in (stage2.controlnet, stage3.controlnet))
    projection = with_camera.controlnet_cond_embedding.camera.cc_projection
    assert with_camera.config.use_camera and not projection.weight[:, -12:].any() and not projection.bias.any()
    g = torch.Generator().manual_seed(0)
    inputs = (torch.randn(2, F, 8, 8, 8, generator=g), torch.tensor(0.3), torch.randn(2, 1, 32, generator=g),
              torch.tensor([[6.0, 128.0, 0.02]] * 2), torch.rand(2, F, 3, 64, 64, generator=g) * 2 - 1)
    with torch.no_grad():
        before = plain(*inputs, return_dict=False)
        after = with_camera(*inputs, camera=torch.randn(2, F, 12, generator=g), return_dict=False)
    for a, b in zip([*before[0], before[1]], [*after[0], after[1]]):
        assert torch.equal(a, b)  # bit-identical at step 0
    trained = train(_config("camera", tiny, tmp_path / "camera2", [clips["orbit"]], f"model.init={stage2.controlnet}",
                            "train.max_steps=3", "train.gradient_accumulation_steps=1", "optim.lr=1e-3",
                            "model.camera_dropout_prob=0"), progress=False)
    moved = TrajControlNetModel.from_pretrained(trained.controlnet).controlnet_cond_embedding.camera.cc_projection
    assert moved.weight[:, -12:].abs().max() > 0  # the orbit's exact poses train the camera columns


def test_real_stage_trains_on_real_trajectories_with_camera_poses(tiny, clips, tmp_path, shared_data):
    from PIL import Image

    root = tmp_path / "real"
    (root / "trajectories").mkdir(parents=True)
    (root / "cameras").mkdir()
    for vid in ("1075_0a5qa9WzAZI", "1011_lq2REad-o0Y"):
        (root / "trajectories" / f"{vid}.json").write_text(
            (shared_data / "vipseg_cotracker_tracks" / f"{vid}.json").read_text())
        (root / "frames" / vid).mkdir(parents=True)
        for t in range(12):
            Image.new("RGB", (1280, 720), (10 * t, 60, 120)).save(root / "frames" / vid / f"{t:05d}.jpg")
        w2c = np.tile(np.eye(4), (12, 1, 1))
        w2c[:, 2, 3] = np.linspace(0, 0.5, 12)
        np.savez(root / "cameras" / f"{vid}.npz", cam_w2c=w2c)
    stage2 = train(_config("clean", tiny, tmp_path / "clean", [clips["duck"]], "model.init=unet",
                           "train.max_steps=0"), progress=False)
    result = train(_config("real", tiny, tmp_path / "real_run", [root], f"model.init={stage2.controlnet}",
                           "train.max_steps=2", "train.gradient_accumulation_steps=1"), progress=False)
    assert result.status == "completed" and result.summary["malformed"]["malformed_samples"] == 0
    assert TrajControlNetModel.from_pretrained(result.controlnet).config.use_camera


def test_the_trajectory_is_learned_not_ignored(tiny, tmp_path):
    """After 150 steps on nine rendered clips, on three held-out clips (new trajectories of the same objects)
    the loss with their true trajectories is lower than with another clip's, at the same noise: by at least
    0.5 % on average and for at least 85 % of the 48 (window, noise level) pairs. Before training the two
    are equal (zero-initialised ControlNet), so the preference is learned."""
    from posetraj.models.time_ids import added_time_ids
    from posetraj.models.unet import ResidualUNet
    from posetraj.training.data import SkipLog, WindowDataset, collate, scan_sources
    from posetraj.training.loop import build_controlnet
    from posetraj.training.objective import SampleDraws, edm_loss
    from posetraj.training.step import FrozenEncoders, encode_batch
    from render.dataset import render_dataset
    from render.spec import make_clip_spec

    frames = WINDOW
    spec = dict(preset="draft", num_frames=12, width=64, height=64, samples=2)
    assets = ("duck", "robot", "truck")
    train_specs = [make_clip_spec(f"builtin:{a}", f, seed=1, **spec) for a in assets
                   for f in ("half_circle", "s_curve", "u_turn")]
    held_specs = [make_clip_spec(f"builtin:{a}", f, seed=2, **spec)
                  for a, f in zip(assets, ("s_curve", "u_turn", "half_circle"))]
    for name, specs in (("train", train_specs), ("held", held_specs)):
        render_dataset(specs, tmp_path / name, redraws_out_of_frame=4, progress=False, stop_on_failure=True)
    common = [f"data.num_frames={frames}", "train.batch_size=8", "train.gradient_accumulation_steps=1",
              "optim.lr=2e-3", "train.max_steps=150", "model.init=unet", f"data.cache_dir={tmp_path / 'cache'}",
              "train.log_every=25"]
    result = train(_config("clean", tiny, tmp_path / "run", [tmp_path / "train"], *common), progress=False)
    assert result.status == "completed"

    config = _config("clean", tiny, tmp_path / "run", [tmp_path / "held"], *common)
    frozen = FrozenModels.load(config.model, torch.float32)
    frozen.prepare("cpu", torch.float32, False)
    sources = scan_sources(config.data, SkipLog(verbose=False))
    dataset = WindowDataset(sources, config.data)
    batch = collate([dataset[(i, seed)] for seed in range(4) for i in range(len(sources))])
    size = len(batch["name"])
    other = torch.roll(batch["conditioning"], -1, dims=0)  # the next window's: another held-out clip's
    assert all(batch["name"][i] != batch["name"][(i + 1) % size] for i in range(size))
    encoders = FrozenEncoders.from_components(frozen.vae, frozen.image_encoder, frozen.feature_extractor)
    video = batch["pixels"].permute(0, 1, 4, 2, 3).float() / 127.5 - 1.0
    encoded = encode_batch(None, video, batch["conditioning"], generator=[torch.Generator().manual_seed(i)
                                                                          for i in range(size)], encoders=encoders)
    unet, objective = ResidualUNet(frozen.unet), ObjectiveConfig(conditioning_dropout_prob=0.0)
    ids = added_time_ids(6, 128, 0.02, size)

    def losses(controlnet, conditioning):
        out = []
        for k, sigma in enumerate((0.5, 1.0, 2.0, 4.0)):
            none = torch.zeros(size, dtype=torch.bool)
            eps = torch.randn(encoded.latents.shape, generator=torch.Generator().manual_seed(k))
            draws = SampleDraws(torch.full((size,), sigma), eps, none, none, none, torch.zeros(size, dtype=torch.long))
            with torch.no_grad():
                out.append(edm_loss(controlnet.eval(), unet, encoded.latents, encoded.image_latents,
                                    encoded.image_embeddings, ids, conditioning, draws, objective).per_sample)
        return torch.stack(out)

    torch.manual_seed(0)
    fresh = build_controlnet(config.model, config.objective, frozen.unet)
    assert torch.equal(losses(fresh, batch["conditioning"]), losses(fresh, other))  # nothing to prefer at step 0
    trained = TrajControlNetModel.from_pretrained(result.controlnet)
    true, swapped = losses(trained, batch["conditioning"]), losses(trained, other)
    ratio, better = float(swapped.mean() / true.mean()), float((true < swapped).float().mean())
    print(f"trajectory learned: held-out loss {float(true.mean()):.4f} with the true trajectories, "
          f"{float(swapped.mean()):.4f} with another clip's (x{ratio:.4f}); true lower in {better:.0%} of "
          f"{true.numel()} pairs")
    assert ratio >= 1.005 and better >= 0.85
    unet.remove_hooks()


def test_cli_validation_logs_and_sigterm(tiny, clips, tmp_path):
    import shutil

    from benchmark.synthetic_clips import SyntheticClipConfig, build_synthetic_suite
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    suite = build_synthetic_suite(tmp_path / "val", num_samples=2, base=SyntheticClipConfig(num_frames=8))
    data = tmp_path / "data"
    data.mkdir()
    for name in ("duck", "truck"):
        shutil.copytree(clips[name], data / clips[name].name)
    broken = data / "broken"
    shutil.copytree(clips["orbit"], broken)
    (broken / "DONE").unlink()  # a malformed sample: skipped and counted
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "posetraj", "train", "--config", "pose", "--no-progress", *RUN,
               f"model.svd={tiny}", f"data.paths=[{data}]", f"output_dir={tmp_path / 'run'}",
               f"validation.suite={suite.path}", "validation.every=2", "train.max_steps=2",
               "train.gradient_accumulation_steps=1", "validation.tracker=lk",
               "train.mixed_precision=bf16", "train.gradient_checkpointing=true"]  # CPU autocast in bf16
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "completed: step 2/2" in done.stdout and "1 malformed sample skipped" in done.stdout
    run = tmp_path / "run"
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["malformed"]["reasons"] == {"broken": f"{broken}: no DONE marker, so the clip is incomplete"}
    assert (run / "config.yaml").is_file() and load_config(run / "config.yaml").validation.suite == str(suite.path)
    for step in (1, 2):
        assert len(list((run / "validation" / f"step-{step:08d}" / "videos").glob("*.mp4"))) == 2
        assert (run / "validation" / f"step-{step:08d}" / "results" / "summary.json").is_file()
    events = EventAccumulator(str(run / "logs"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/lr", "train/grad_norm", "validation/objmc", "validation/rotation_error_deg"} <= tags
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2]
    assert "validation/frames" in events.Tags()["images"]
    # the output is a ControlNet that posetraj generate loads
    out = tmp_path / "v.mp4"
    image = tmp_path / "first.png"
    from PIL import Image

    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(image)
    (tmp_path / "t.json").write_text(json.dumps({"1": [[10 + 4 * t, 30] for t in range(F)]}))
    done = subprocess.run([sys.executable, "-m", "posetraj", "generate", "--image", str(image), "--trajectory",
                           str(tmp_path / "t.json"), "--svd", str(tiny), "--controlnet", str(run / "controlnet"),
                           "--out", str(out), "--width", "64", "--height", "64", "--num-frames", str(F), "--steps", "2",
                           "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1])["fps_id"] == 6  # the fps id it was trained with
    # SIGTERM: a checkpoint, then a prompt exit
    long = [c if not c.startswith("train.max_steps") else "train.max_steps=100000" for c in command]
    long = [c for c in long if not c.startswith("validation.")] + [f"output_dir={tmp_path / 'long'}"]
    process = subprocess.Popen(long, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "long" / "metrics.jsonl"
    deadline = time.time() + 300
    while not (metrics.is_file() and metrics.read_text().strip()) and time.time() < deadline:
        assert process.poll() is None, process.communicate()[1][-2000:]
        time.sleep(0.5)
    sent = time.time()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    print(f"SIGTERM to exit: {time.time() - sent:.1f} s")
    assert process.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    summary = json.loads((tmp_path / "long" / "train_summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert (tmp_path / "long" / "checkpoints" / f"checkpoint-{summary['step']:08d}" / "DONE").is_file()


def test_demo_model_part_trains_on_reserved_builtins_and_scores_beside_the_baselines(tmp_path):
    from benchmark.synthetic_clips import SyntheticClipConfig, build_synthetic_suite
    from posetraj.commands.demo_model import MODEL_NAME, model_note, run_model_part

    suite = build_synthetic_suite(tmp_path / "s", num_samples=2, base=SyntheticClipConfig(num_frames=8))
    summary = run_model_part(tmp_path / "demo", suite.path, steps=2, seed=0, tracker="lk", tracker_options=None,
                             progress=False)
    training = summary["training"]
    assert training["train_builtins"] == ["duck", "robot", "truck"] and training["steps"] == 2
    assert summary["num_failed"] == 0 and (tmp_path / "demo" / "results" / MODEL_NAME / "summary.json").is_file()
    assert summary["metrics"]["groups"]["overall"]["objmc"] is not None
    note = model_note(training)
    assert "random-initialised" in note and "not meaningful" in note and "2 steps" in note
    # the trainer was told the suite: training on the suite's own clips is refused
    from posetraj.training.benchmark_split import BenchmarkOverlapError
    from posetraj.commands.demo_model import train_tiny_model

    with pytest.raises(BenchmarkOverlapError, match="textured-box"):
        train_tiny_model(tmp_path / "demo2", tmp_path / "s" / "clips", suite.path, steps=1, width=64, height=64,
                         num_frames=8, progress=False)
