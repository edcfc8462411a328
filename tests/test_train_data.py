"""posetraj train, everything before the loop: configs, the objective's sampling and dropout, the loaders of
rendered clips and real videos (every malformed case), the benchmark split, the sampler and the latent cache.
Tiny Blender clips of the train built-ins (96x64, 12 frames) and the tiny random SVD (posetraj.tiny)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("bpy", reason="bpy is installed by the 'render' extra, which ./run.sh always installs")

from common.clip_format import load_clip  # noqa: E402
from common.trajectories import read_trajectory_json, select_frames  # noqa: E402
from posetraj.training.config import ConfigError, ObjectiveConfig, load_config  # noqa: E402
from posetraj.training.data import (  # noqa: E402
    SampleError, SkipLog, WindowDataset, WindowSampler, collate, scan_sources,
)
from posetraj.training.framing import Fit  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.blender]
TINY = dict(preset="draft", num_frames=12, width=96, height=64, samples=2)
F = 8
BASE = ["model.svd=unused", "model.variant=null", "data.width=64", "data.height=64", f"data.num_frames={F}",
        "data.num_workers=0", "train.mixed_precision=no"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Three clips of the train built-ins; the robot's camera orbits."""
    from render.dataset import render_dataset
    from render.spec import make_clip_spec

    root = tmp_path_factory.mktemp("train_clips")
    specs = [make_clip_spec("builtin:duck", "half_circle", seed=1, **TINY),
             make_clip_spec("builtin:truck", "s_curve", seed=2, **TINY),
             make_clip_spec("builtin:robot", "line", seed=3, camera_mode="orbit", write_png=True, **TINY)]
    report = render_dataset(specs, root, redraws_out_of_frame=3, progress=False, stop_on_failure=True)
    assert len(report.clips) == 3
    return root


def _config(paths, *overrides):
    return load_config("pose", BASE + [f"data.paths={[str(p) for p in paths]}", *overrides])


def _clip(root: Path, prefix: str) -> Path:
    return next(p for p in sorted(root.iterdir()) if p.name.startswith(prefix))


# ------------------------------------------------------------------------------------------------
# Configs
# ------------------------------------------------------------------------------------------------


def test_shipped_configs_reproduce_the_original_settings():
    configs = {name: load_config(name) for name in ("pose", "clean", "real", "camera")}
    for name, c in configs.items():
        assert (c.data.num_frames, c.data.height, c.data.width) == (14, 320, 576), name
        assert c.optim.lr == 1e-5 and c.optim.weight_decay == 0.01 and c.optim.lr_scheduler == "constant", name
        assert c.train.batch_size * c.train.gradient_accumulation_steps == 2 and c.train.batch_size == 1, name
        assert c.train.mixed_precision == "fp16" and c.train.gradient_checkpointing, name
        assert c.objective.sigma_sampling == "cosine_interpolated" and c.objective.single_frame_loss_weight == 0.5
        assert c.objective.conditioning_dropout_prob == 0.1 and c.objective.trajectory_dropout_prob == 0.0
        assert (c.objective.fps_id, c.objective.motion_bucket_id, c.objective.noise_aug_strength) == (6, 128, 0.02)
        assert c.optim.max_grad_norm == 1.0  # the original's clipping never ran
        assert "original" in (Path(__file__).parent.parent / "posetraj" / "configs" / f"{name}.yaml").read_text()
    pose, clean, real, camera = configs.values()
    assert pose.model.init == "unet" and pose.data.target == "boxes" and not pose.model.use_camera
    assert clean.model.init == f"{pose.output_dir}/controlnet" and clean.data.target == "clean"
    assert real.model.init == f"{clean.output_dir}/controlnet" and real.data.kind == "real"
    assert real.model.use_camera and real.model.camera_dropout_prob == 0.5 and real.data.max_points is None
    assert camera.model.use_camera and camera.data.kind == "clips" and camera.model.init == real.model.init


def test_overrides_are_typed_and_bad_keys_are_refused(tmp_path, capsys):
    from posetraj.commands.main import main

    c = load_config("pose", ["optim.lr=1e-4", "data.paths=[a, b]", "data.max_points=null", "train.mixed_precision=no",
                             "data.paths=c", "validation.suite=s"])
    assert c.optim.lr == 1e-4 and c.data.paths == ["c"] and c.data.max_points is None
    assert c.train.mixed_precision == "no" and c.validation.suite == "s"
    for override, message in (("data.widht=64", "unknown config key data.widht"),
                              ("data.width=abc", "data.width: expected an integer"),
                              ("data.width=60", "multiples of 8"), ("data.resize=squash", "data.resize"),
                              ("objective.conditioning_dropout_prob=0.5", "at most 1/3"), ("nonsense", "key=value"),
                              ("train.ema=maybe", "expected true or false")):  # no type=bool surprises
        with pytest.raises(ConfigError, match=message):
            load_config("pose", [override])
    assert main(["train", "--config", "pose", "--print-config", "data.width=64"]) == 0
    assert "width: 64" in capsys.readouterr().out
    assert main(["train", "--config", "pose"]) == 2 and "model.svd is not set" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "none.yaml")]) == 2
    assert "no such config" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# Objective: sigma sampling, CFG dropout, single-frame loss
# ------------------------------------------------------------------------------------------------


def test_sigma_sampling_matches_the_original_and_the_lognormal():
    from posetraj.training.objective import SampleDraws

    gens = [torch.Generator().manual_seed(i) for i in range(20000)]
    cosine = SampleDraws.draw(gens, (1, 1, 1, 1), ObjectiveConfig()).sigma.numpy()
    # the original's empirical quantiles (shared reference, posetraj_original.md §4.1)
    reference = {0.05: 0.043, 0.25: 0.25, 0.5: 0.71, 0.75: 2.03, 0.95: 12.1}
    for q, value in reference.items():
        assert np.quantile(cosine, q) == pytest.approx(value, rel=0.08), q
    assert cosine.min() >= 0.002 and cosine.max() <= 700
    gens = [torch.Generator().manual_seed(i) for i in range(20000)]
    lognormal = SampleDraws.draw(gens, (1, 1, 1, 1), ObjectiveConfig(sigma_sampling="lognormal")).sigma.numpy()
    assert np.median(lognormal) == pytest.approx(np.exp(0.7), rel=0.05)


@pytest.fixture(scope="module")
def tiny_models():
    from posetraj.models.controlnet import TrajControlNetModel
    from posetraj.models.unet import ResidualUNet
    from posetraj.tiny import tiny_svd_components

    unet = tiny_svd_components(num_frames=F)["unet"].requires_grad_(False)
    controlnet = TrajControlNetModel.from_unet(unet)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():  # as after some training: residuals are not zero
        for conv in [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block,
                     controlnet.controlnet_cond_embedding.conv_out]:
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.05)
    return controlnet.eval(), ResidualUNet(unet)


def _inputs(batch: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"latents": torch.randn(batch, F, 4, 8, 8, generator=g),
            "image_latents": torch.randn(batch, 4, 8, 8, generator=g),
            "image_embeddings": torch.randn(batch, 1, 32, generator=g),
            "added_time_ids": torch.tensor([[6.0, 128.0, 0.02]] * batch),
            "conditioning": torch.rand(batch, F, 3, 64, 64, generator=g) * 2 - 1}


def test_cfg_dropout_gives_both_networks_the_pipelines_unconditional_inputs(tiny_models):
    from posetraj.training.objective import SampleDraws, edm_loss

    controlnet, unet = tiny_models
    config = ObjectiveConfig(conditioning_dropout_prob=0.1)
    draws = SampleDraws.draw([torch.Generator().manual_seed(i) for i in range(6000)], (1, 1, 1, 1), config)
    clip_only = (draws.drop_clip & ~draws.drop_image).float().mean()
    both = (draws.drop_clip & draws.drop_image).float().mean()
    image_only = (~draws.drop_clip & draws.drop_image).float().mean()
    for share in (clip_only, both, image_only):  # the original's three cases, 10 % each
        assert float(share) == pytest.approx(0.1, abs=0.015)
    assert not draws.drop_trajectory.any()  # trajectories are never dropped unless configured
    seen = {}
    hooks = [controlnet.register_forward_pre_hook(lambda m, a, k: seen.update(cn=(a, k)), with_kwargs=True),
             unet.unet.register_forward_pre_hook(lambda m, a, k: seen.update(unet=(a, k)), with_kwargs=True)]
    inputs = _inputs(3)
    draws = SampleDraws.draw([torch.Generator().manual_seed(i) for i in range(3)], (F, 4, 8, 8),
                             ObjectiveConfig(trajectory_dropout_prob=1.0))
    draws.drop_clip[:], draws.drop_image[:] = torch.tensor([True, False, True]), torch.tensor([False, True, True])
    try:
        with torch.no_grad():
            edm_loss(controlnet, unet, inputs["latents"], inputs["image_latents"], inputs["image_embeddings"],
                     inputs["added_time_ids"], inputs["conditioning"], draws, config)
    finally:
        for hook in hooks:
            hook.remove()
    (cn_sample, _, cn_embeddings, _, cn_cond), _ = seen["cn"]
    unet_sample, unet_embeddings = seen["unet"][0][0], seen["unet"][1]["encoder_hidden_states"]
    for sample, embeddings in ((cn_sample, cn_embeddings), (unet_sample, unet_embeddings)):
        assert torch.equal(embeddings[[0, 2]], torch.zeros_like(embeddings[[0, 2]]))  # CLIP dropped: zeros
        assert torch.equal(embeddings[1], inputs["image_embeddings"][1])
        assert torch.equal(sample[[1, 2], :, 4:], torch.zeros_like(sample[[1, 2], :, 4:]))  # image latents dropped
        assert torch.equal(sample[0, :, 4:], inputs["image_latents"][0][None].expand(F, -1, -1, -1))
    assert torch.equal(cn_cond, torch.full_like(cn_cond, -1.0))  # dropped trajectories: a blank canvas


def test_per_sample_losses_do_not_depend_on_the_batch_and_the_single_frame_loss_is_per_sample(tiny_models):
    from posetraj.training.objective import SampleDraws, edm_loss

    controlnet, unet = tiny_models
    config = ObjectiveConfig(single_frame_loss_weight=0.5, conditioning_dropout_prob=0.0)
    inputs = _inputs(3, seed=1)
    draws = SampleDraws.draw([torch.Generator().manual_seed(10 + i) for i in range(3)], (F, 4, 8, 8), config)
    assert len(set(draws.frame.tolist())) > 1  # different frames in one batch: the original's bug case
    with torch.no_grad():
        batched = edm_loss(controlnet, unet, *inputs.values(), draws, config)
        singles = []
        for b in range(3):
            one = SampleDraws(*(getattr(draws, k)[b:b + 1] for k in ("sigma", "eps", "drop_clip", "drop_image",
                                                                     "drop_trajectory", "frame")))
            singles.append(edm_loss(controlnet, unet, *(v[b:b + 1] for v in inputs.values()), one, config))
    torch.testing.assert_close(batched.per_sample, torch.cat([s.per_sample for s in singles]), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(batched.single_frame, torch.stack([s.single_frame for s in singles]).mean(),
                               rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(batched.total, batched.main + 0.5 * batched.single_frame)


def test_block_checkpointing_leaves_losses_and_gradients_unchanged():
    import copy

    from posetraj.models.controlnet import TrajControlNetModel
    from posetraj.models.unet import ResidualUNet
    from posetraj.tiny import tiny_svd_components
    from posetraj.training.checkpointing import checkpoint_blocks
    from posetraj.training.objective import SampleDraws, edm_loss

    base_unet = tiny_svd_components(num_frames=F)["unet"].requires_grad_(False)
    torch.manual_seed(0)
    base = TrajControlNetModel.from_unet(base_unet)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for conv in [*base.controlnet_down_blocks, base.controlnet_mid_block, base.controlnet_cond_embedding.conv_out]:
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.05)
    config = ObjectiveConfig(single_frame_loss_weight=0.5)
    results = []
    for mode in ("none", "nested"):
        unet, controlnet = copy.deepcopy(base_unet), copy.deepcopy(base).train()
        if mode == "nested":  # diffusers' checkpointing inside block-level checkpointing
            controlnet.enable_gradient_checkpointing()
            unet.enable_gradient_checkpointing()
            assert checkpoint_blocks(controlnet) == 3 and checkpoint_blocks(unet) == 5
        wrapper = ResidualUNet(unet)
        draws = SampleDraws.draw([torch.Generator().manual_seed(i) for i in range(2)], (F, 4, 8, 8), config)
        loss = edm_loss(controlnet, wrapper, *_inputs(2, seed=4).values(), draws, config)
        loss.total.backward()
        results.append((float(loss.total.detach()), {n: p.grad.clone() for n, p in controlnet.named_parameters()}))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-6)
    for name, grad in results[0][1].items():
        torch.testing.assert_close(grad, results[1][1][name], rtol=1e-4, atol=1e-7)


# ------------------------------------------------------------------------------------------------
# Rendered clips
# ------------------------------------------------------------------------------------------------


def test_clip_windows_follow_the_object_in_every_resize_mode(clips):
    import cv2

    for mode in ("crop", "pad", "stretch"):
        config = _config([clips], f"data.resize={mode}", "data.target=clean")
        sources = scan_sources(config.data, SkipLog())
        dataset = WindowDataset(sources, config.data)
        assert len(dataset) == 3 and {s.assets[0] for s in sources} == {"builtin-duck", "builtin-robot", "builtin-truck"}
        for index, source in enumerate(sources):
            item, again = dataset[(index, 17)], dataset[(index, 17)]  # a seed gives the same window, always
            assert item["start"] == again["start"] and np.array_equal(item["conditioning"], again["conditioning"])
            assert item["pixels"].shape == (F, 64, 64, 3) and item["pixels"].dtype == np.uint8
            assert item["conditioning"].shape == (F, 3, 64, 64) and item["conditioning"].min() >= -1.0
            start = item["start"]
            clip = load_clip(Path(source.path))
            assert np.array_equal(item["pixels"], Fit.make(clip.size, (64, 64), mode).frames(clip.frames()[start:start + F]))
            mask = clip.arrays("mask")["mask"][start:start + F] == 1
            fitted = Fit.make(clip.size, (64, 64), mode).frames(np.repeat(mask[..., None] * 255, 3, -1).astype(np.uint8))
            near = cv2.dilate(fitted[..., 0], np.ones((9, 9), np.uint8)) > 0  # line width 3, head radius 3
            drawn = item["conditioning"][:-1].max(axis=1) > -0.5  # frame k: segments k -> k+1 and dots at k+1
            on_object = (drawn & (near[:-1] | near[1:])).sum() / max(drawn.sum(), 1)
            assert drawn.sum() > 0 and on_object > 0.9, (mode, source.name, on_object)
            assert not item["conditioning"][-1].max() > -1.0  # the last frame is blank


def test_stage_one_targets_show_the_box_and_camera_vectors_are_exact(clips):
    from posetraj.models.camera import camera_vectors_from_w2c

    boxes = _config([clips], "data.target=boxes")
    clean = _config([clips], "data.target=clean")
    sources = scan_sources(clean.data, SkipLog())
    for index, source in enumerate(sources):
        a, b = WindowDataset(sources, boxes.data)[(index, 5)], WindowDataset(sources, clean.data)[(index, 5)]
        assert a["start"] == b["start"] and np.array_equal(a["conditioning"], b["conditioning"])
        changed = np.abs(a["pixels"].astype(int) - b["pixels"].astype(int)).max(axis=-1) > 30
        assert changed.any(axis=(1, 2)).all()  # the box is drawn into every target frame, first frame included
        assert changed.mean() < 0.2  # ... and only there
    with_camera = WindowDataset(sources, clean.data, use_camera=True)
    for index, source in enumerate(sources):
        item = with_camera[(index, 9)]
        w2c = load_clip(Path(source.path)).arrays("cam_w2c")["cam_w2c"][item["start"]:item["start"] + F]
        np.testing.assert_allclose(item["camera"], camera_vectors_from_w2c(w2c), atol=1e-6)
        moving = np.abs(item["camera"] - item["camera"][:1]).max() > 1e-3
        assert moving == source.name.startswith("robot")  # only the orbit clip's camera moves
        assert not WindowDataset(sources, clean.data)[(index, 9)]["camera"].any()  # no camera module: zeros


def test_sampled_trajectories_are_visible_surface_points_nearest_the_centre_and_box_corners():
    from posetraj.training.trajectory_sampling import sample_surface_trajectories

    T, N = 6, 400
    rng = np.random.default_rng(0)
    start_xy = rng.uniform(0, 100, (N, 2))
    tracks = start_xy[None] + np.arange(T)[:, None, None] * np.array([2.0, 1.0])
    visible = np.ones((T, N), bool)
    visible[:, :200] = False  # half of the points are hidden
    center = np.full((T, 2), 50.0)
    corners = np.stack([[20, 20], [80, 20], [20, 80], [80, 80], [30, 30], [70, 30], [30, 70], [70, 70]])[None]
    corners = np.repeat(corners.astype(float), T, 0)
    counts = set()
    for seed in range(20):
        traj = sample_surface_trajectories(tracks, visible, center, corners, (100, 100), 0, T,
                                           np.random.default_rng(seed), min_points=1, max_points=9)
        ids = [int(i) for i in traj.ids]
        counts.add(len(ids))
        assert all(i >= 200 for i in ids) and traj.visible.all()  # visible points only, shown whole
        candidates = np.arange(200, N)
        nearest_centre = candidates[np.argmin(((start_xy[candidates] - 50.0) ** 2).sum(1))]
        assert ids[0] == nearest_centre  # the object's centre first
        for i in ids[1:]:  # then the point nearest to one of the corners
            assert min(np.hypot(*(start_xy[i] - c)) for c in corners[0]) < 12
        np.testing.assert_allclose(traj.points[0], tracks[:, ids[0]])
    assert len(counts) > 3 and max(counts) <= 9  # one to many points
    none = sample_surface_trajectories(tracks, np.zeros((T, N), bool), center, corners, (100, 100), 0, T,
                                       np.random.default_rng(0))
    assert none is None


def test_fit_moves_trajectories_with_the_image():
    from common.trajectories import Trajectories

    frame = np.zeros((1, 48, 96, 3), np.uint8)
    frame[0, 30, 70] = 255
    traj = Trajectories.from_array(np.array([[[70.0, 30.0]]]), (96, 48))
    for mode in ("crop", "pad", "stretch"):
        fit = Fit.make((96, 48), (64, 64), mode)
        out = fit.frames(np.repeat(frame, 1, 0)).astype(float)[0, ..., 0]
        ys, xs = np.nonzero(out)
        centroid = np.array([(xs * out[ys, xs]).sum(), (ys * out[ys, xs]).sum()]) / out[ys, xs].sum()
        np.testing.assert_allclose(centroid, fit.trajectories(traj).points[0, 0], atol=0.35)


def test_malformed_clips_are_skipped_with_their_reason_or_refused_with_strict(clips, tmp_path):
    from benchmark.synthetic_clips import SyntheticClipConfig, render_synthetic_clip

    root = tmp_path / "data"
    shutil.copytree(clips, root)
    (_clip(root, "duck") / "DONE").unlink()
    video = _clip(root, "truck") / "rgb.mp4"
    video.write_bytes(video.read_bytes()[:300])
    robot = _clip(root, "robot")
    ann = dict(np.load(robot / "annotations.npz"))  # a test may write clip files directly
    ann["tracks_2d"][3, 5] = np.nan
    np.savez_compressed(robot / "annotations.npz", **ann)
    render_synthetic_clip(root, "short", SyntheticClipConfig(num_frames=5, width=64, height=64))
    render_synthetic_clip(root, "good", SyntheticClipConfig(num_frames=12, width=64, height=64, seed=4))
    (root / "failures").mkdir(exist_ok=True)  # the renderer's failure records are no clips
    config = _config([root], "data.target=clean")
    skips = SkipLog(verbose=False)
    sources = scan_sources(config.data, skips)
    assert "DONE marker" in skips.reasons[_clip(root, "duck").name]
    assert "5 frames, fewer than the 8" in skips.reasons["short"]
    dataset = WindowDataset(sources, config.data)
    batch = collate([dataset[(i, 1)] for i in range(len(sources))])
    for name, reason in batch["skipped"]:
        skips.add(name, reason)
    assert "cannot decode" in skips.reasons[_clip(root, "truck").name]
    assert "non-finite values in 'tracks_2d'" in skips.reasons[robot.name]
    assert set(batch["name"]) == {"good"} and len(skips.reasons) == 4
    assert skips.summary()["malformed_samples"] == 4
    with pytest.raises(SampleError, match="DONE marker"):
        scan_sources(_config([root], "data.strict=true").data, SkipLog(verbose=False))
    with pytest.raises(SampleError, match="cannot decode"):
        strict = _config([root], "data.strict=true", "data.target=clean").data
        WindowDataset(sources, strict)[(sources.index(next(s for s in sources if s.name.startswith("truck"))), 1)]
    with pytest.raises(FileNotFoundError, match="not a folder"):
        scan_sources(_config([tmp_path / "missing"]).data, SkipLog(verbose=False))


def test_a_dataset_sharing_assets_with_a_benchmark_suite_is_refused(clips, tmp_path):
    from benchmark.suite_build import build_suite_from_clips
    from posetraj.training.benchmark_split import BenchmarkOverlapError, check_disjoint

    suite = build_suite_from_clips(tmp_path / "suite", [_clip(clips, "duck")], name="held-out")
    sources = scan_sources(_config([clips]).data, SkipLog(verbose=False))
    with pytest.raises(BenchmarkOverlapError, match=r"shares assets with benchmark suite .*builtin-duck \(1 training"):
        check_disjoint(sources, [str(suite.path)])
    check_disjoint([s for s in sources if not s.name.startswith("duck")], [str(suite.path)])  # disjoint: fine


# ------------------------------------------------------------------------------------------------
# Real videos: frames folders + trajectory JSON (+ camera poses)
# ------------------------------------------------------------------------------------------------

REAL_IDS = ("1075_0a5qa9WzAZI", "1011_lq2REad-o0Y")  # 2 and 8 diverged trajectories at 1280x720


def _real_root(tmp_path: Path, shared_data: Path, frames: int = 20) -> Path:
    from PIL import Image

    root = tmp_path / "real"
    (root / "trajectories").mkdir(parents=True)
    for index, vid in enumerate(REAL_IDS):
        shutil.copy(shared_data / "vipseg_cotracker_tracks" / f"{vid}.json", root / "trajectories")
        (root / "frames" / vid).mkdir(parents=True)
        for t in range(frames):
            Image.new("RGB", (1280, 720), (40 * index, 8 * t, 90)).save(root / "frames" / vid / f"{t:05d}.jpg")
    return root


def test_real_videos_drop_outliers_as_the_harness_does(tmp_path, shared_data):
    from benchmark.suite_build import build_folder_suite
    from posetraj.conditioning import ConditioningConfig, encode_trajectories

    root = _real_root(tmp_path, shared_data)
    config = load_config("real", BASE + [f"data.paths=[{root}]"])
    sources = scan_sources(config.data, SkipLog(verbose=False))
    assert [s.name for s in sources] == sorted(REAL_IDS) and sources[0].size == (1280, 720)
    dataset = WindowDataset(sources, config.data)
    flat = tmp_path / "flat"  # the same videos as a real benchmark suite
    flat.mkdir()
    for source in sources:
        shutil.copy(source.trajectories, flat)
        shutil.copytree(source.path, flat / source.name)
    suite = build_folder_suite(flat, tmp_path / "suite", kind="real", num_frames=F, outliers="drop")
    for index, source in enumerate(sources):
        item = dataset[(index, 3)]
        assert item["pixels"].shape == (F, 64, 64, 3)
        kept = read_trajectory_json(source.trajectories, source.size, outliers="drop")
        harness = next(s for s in suite.samples if s.id == source.name)
        assert list(kept.dropped) == harness.record["dropped_trajectories"] and kept.dropped
        window = select_frames(kept, F, item["start"])
        expected, _ = encode_trajectories(Fit.make(source.size, (64, 64), "crop").trajectories(window), F, 64, 64,
                                          ConditioningConfig())
        np.testing.assert_array_equal(item["conditioning"], expected)
        # the dropped trajectories are not merely off the frame: on the whole frame they would draw something
        every = read_trajectory_json(source.trajectories, source.size, outliers="keep")
        pair = [encode_trajectories(Fit.make(source.size, (64, 64), "stretch").trajectories(select_frames(t, F, 0)),
                                    F, 64, 64, ConditioningConfig())[0] for t in (every, kept)]
        assert not np.array_equal(*pair)


def test_malformed_real_videos_and_camera_files(tmp_path, shared_data):
    from posetraj.models.camera import camera_vectors_from_w2c

    root = _real_root(tmp_path, shared_data)
    tracks = shared_data / "vipseg_cotracker_tracks"
    for vid, change in (("short", "frames"), ("nan", "json"), ("outliers", "all")):
        shutil.copytree(root / "frames" / REAL_IDS[0], root / "frames" / vid)
        data = json.loads((tracks / f"{REAL_IDS[0]}.json").read_text())
        if change == "frames":
            for path in sorted((root / "frames" / vid).iterdir())[5:]:
                path.unlink()
        elif change == "json":
            first = next(iter(data))
            data[first][2] = [1.0]  # a malformed point
        else:
            data = json.loads((tracks / "101_gx9PZZuwvoI.json").read_text())  # every trajectory diverges
        (root / "trajectories" / f"{vid}.json").write_text(json.dumps(data))
    (root / "frames" / "nojson").mkdir()
    (root / "trajectories" / "noframes.json").write_text("{}")
    w2c = np.tile(np.eye(4), (40, 1, 1))
    w2c[:, 0, 3] = np.linspace(0, 1, 40)
    (root / "cameras").mkdir()
    np.savez(root / "cameras" / f"{REAL_IDS[0]}.npz", cam_w2c=w2c)
    np.savez(root / "cameras" / f"{REAL_IDS[1]}.npz", pred_cam_R=w2c[:5, :3, :3], pred_cam_T=w2c[:5, :3, 3])
    config = load_config("real", BASE + [f"data.paths=[{root}]"])
    skips = SkipLog(verbose=False)
    sources = scan_sources(config.data, skips)
    assert "5 frames, fewer than the 8" in skips.reasons["short"] and "0 frames" in skips.reasons["noframes"]
    dataset = WindowDataset(sources, config.data, use_camera=True)
    items = {s.name: dataset[(i, 2)] for i, s in enumerate(sources)}
    for name, reason in (s for item in items.values() for s in item["skipped"]):
        skips.add(name, reason)
    assert "expected [x, y]" in skips.reasons["nan"]
    assert "every trajectory is an outlier" in skips.reasons["outliers"]
    assert "camera poses do not cover" in skips.reasons[REAL_IDS[1]]  # 5 poses for 8-frame windows
    good = items[REAL_IDS[0]]
    np.testing.assert_allclose(good["camera"], camera_vectors_from_w2c(w2c[good["start"]:good["start"] + F]), atol=1e-6)
    assert len(skips.reasons) == 5


# ------------------------------------------------------------------------------------------------
# Sampling across processes, the latent cache
# ------------------------------------------------------------------------------------------------


def test_two_processes_see_the_samples_one_process_with_twice_the_batch_sees():
    one = iter(WindowSampler(7, 4, world_size=1, rank=0, seed=3))
    two = [iter(WindowSampler(7, 2, world_size=2, rank=r, seed=3)) for r in range(2)]
    for _ in range(5):
        assert next(one) == next(two[0]) + next(two[1])
    epoch = [next(iter(WindowSampler(7, 7, seed=3)))[0]] + next(iter(WindowSampler(7, 6, seed=3, start=1)))
    assert sorted(i for i, _ in epoch) == list(range(7))  # an epoch covers every source once
    resumed = iter(WindowSampler(7, 2, world_size=2, rank=1, seed=3, start=8))
    assert next(resumed) == next(iter(WindowSampler(7, 4, seed=3, start=8)))[2:]


def test_latent_cache_gives_the_loss_of_direct_encoding(clips, tmp_path, tiny_models):
    from posetraj.tiny import tiny_svd_components
    from posetraj.training.latent_cache import LatentCache, build_cache, encoder_identity
    from posetraj.training.objective import SampleDraws, edm_loss
    from posetraj.training.step import FrozenEncoders, encode_batch, encoding_noise

    parts = tiny_svd_components(num_frames=F)
    encoders = FrozenEncoders.from_components(parts["vae"], parts["image_encoder"], parts["feature_extractor"])
    config = _config([clips], "data.target=boxes", "objective.noise_aug_strength=0.0",
                     f"data.cache_dir={tmp_path / 'cache'}", "data.cache_dtype=float32")
    skips = SkipLog(verbose=False)
    sources = scan_sources(config.data, skips)
    cache = LatentCache(config.data.cache_dir, encoder_identity(tmp_path / "svd", config.data, 0.0))
    assert build_cache(cache, WindowDataset(sources, config.data), encoders, "cpu", 0.0, skips, progress=False) == 3
    assert build_cache(cache, WindowDataset(sources, config.data), encoders, "cpu", 0.0, skips, progress=False) == 0
    direct = collate([WindowDataset(sources, config.data)[(i, 4)] for i in range(3)])
    cached = collate([WindowDataset(sources, config.data, cache=cache)[(i, 4)] for i in range(3)])
    assert "pixels" not in cached and np.array_equal(direct["conditioning"], cached["conditioning"])
    gens = [torch.Generator().manual_seed(s) for s in range(3)]
    video = direct["pixels"].permute(0, 1, 4, 2, 3).float() / 127.5 - 1.0
    batch = encode_batch(None, video, direct["conditioning"], noise_aug_strength=0.0, generator=gens, encoders=encoders)
    gens = [torch.Generator().manual_seed(s) for s in range(3)]
    _, noise = encoding_noise(gens, (3, 64, 64), tuple(cached["latent_mean"].shape[1:]))
    latents = (cached["latent_mean"] + cached["latent_std"] * noise) * encoders.scaling_factor
    torch.testing.assert_close(latents, batch.latents, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(cached["image_embedding"][:, None], batch.image_embeddings, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(cached["image_latent"], batch.image_latents, rtol=1e-4, atol=1e-4)
    controlnet, unet = tiny_models
    draws = SampleDraws.draw([torch.Generator().manual_seed(s) for s in range(3)], (F, 4, 8, 8), ObjectiveConfig())
    with torch.no_grad():
        a = edm_loss(controlnet, unet, batch.latents, batch.image_latents, batch.image_embeddings,
                     batch.added_time_ids, batch.conditioning, draws, ObjectiveConfig()).per_sample
        b = edm_loss(controlnet, unet, latents, cached["image_latent"], cached["image_embedding"][:, None],
                     batch.added_time_ids, cached["conditioning"], draws, ObjectiveConfig()).per_sample
    torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)
    clip = _clip(clips, "duck")
    before = cache.entry(next(s for s in sources if s.name == clip.name))
    marker = json.loads((clip / "DONE").read_text())
    (clip / "DONE").write_text(json.dumps({**marker, "edited": True}))
    try:  # an edited clip gets a new entry
        assert cache.entry(next(s for s in sources if s.name == clip.name)) != before
    finally:
        (clip / "DONE").write_text(json.dumps(marker, indent=2) + "\n")
