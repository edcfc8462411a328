"""PoseTrajPipeline on tiny random SVD components (8 frames, 64x64, 2 steps, CPU, 1 thread)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import PIL.Image  # noqa: E402
from diffusers import StableVideoDiffusionPipeline  # noqa: E402

from common.trajectories import Trajectories  # noqa: E402
from posetraj.models.controlnet import TrajControlNetModel  # noqa: E402
from posetraj.pipelines.pipeline_posetraj import PoseTrajPipeline  # noqa: E402
from posetraj.tiny import tiny_svd_components  # noqa: E402

pytestmark = pytest.mark.torch
F, SIZE, STEPS = 8, 64, 2


@pytest.fixture(scope="module")
def components():
    return tiny_svd_components(num_frames=F)


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    return PIL.Image.fromarray((rng.random((SIZE, SIZE, 3)) * 255).astype(np.uint8))


@pytest.fixture(scope="module")
def traj():
    xs, ys = np.linspace(10, 50, F), np.linspace(20, 40, F)
    return Trajectories.from_array(np.stack([np.stack([xs, ys], 1), np.stack([ys, xs], 1)], axis=1), (SIZE, SIZE))


def _perturb(controlnet: TrajControlNetModel, seed: int = 1) -> TrajControlNetModel:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for conv in [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block,
                     controlnet.controlnet_cond_embedding.conv_out]:
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.05)
    return controlnet.eval()


def _pipe(components, controlnet=None, **options) -> PoseTrajPipeline:
    controlnet = controlnet or TrajControlNetModel.from_unet(components["unet"], **options).eval()
    pipe = PoseTrajPipeline(**components, controlnet=controlnet)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _run(pipe, image, traj, seed=0, **kwargs):
    return pipe(image, traj, height=SIZE, width=SIZE, num_frames=F, num_inference_steps=STEPS,
                generator=torch.Generator().manual_seed(seed), **kwargs).frames


@pytest.fixture(scope="module")
def trained_pipe(components):
    return _pipe(components, _perturb(TrajControlNetModel.from_unet(components["unet"])))


def test_shapes_range_and_determinism(trained_pipe, image, traj):
    a = _run(trained_pipe, image, traj)
    assert a.shape == (1, F, SIZE, SIZE, 3) and a.min() >= 0.0 and a.max() <= 1.0
    assert np.array_equal(a, _run(trained_pipe, image, traj))
    assert not np.array_equal(a, _run(trained_pipe, image, traj, seed=1))
    latents = _run(trained_pipe, image, traj, output_type="latent")
    assert tuple(latents.shape) == (1, F, 4, SIZE // 8, SIZE // 8)


def test_zero_initialised_controlnet_reproduces_stock_svd(components, image, traj):
    ours = _run(_pipe(components), image, traj, fps=6)  # stock SVD embeds fps - 1
    stock = StableVideoDiffusionPipeline(**components)
    stock.set_progress_bar_config(disable=True)
    theirs = stock(image, height=SIZE, width=SIZE, num_frames=F, num_inference_steps=STEPS, fps=7,
                   motion_bucket_id=127, noise_aug_strength=0.02, output_type="np",
                   generator=torch.Generator().manual_seed(0)).frames
    assert np.array_equal(ours, theirs)


def test_trajectories_and_scale_steer_the_trained_controlnet(trained_pipe, components, image, traj):
    base = _run(_pipe(components), image, traj)
    steered = _run(trained_pipe, image, traj)
    assert np.abs(steered - base).max() > 1e-3
    assert np.array_equal(_run(trained_pipe, image, traj, controlnet_scale=0.0), base)
    reversed_traj = Trajectories(traj.points[:, ::-1].copy(), traj.visible[:, ::-1].copy(), traj.size)
    assert np.abs(_run(trained_pipe, image, reversed_traj) - steered).max() > 1e-4


def test_time_ids_clip_normalisation_and_pixel_noise_augmentation(trained_pipe, image, traj):
    seen = {}

    def unet_hook(module, args, kwargs):
        seen["ids"] = kwargs["added_time_ids"].clone()

    def clip_hook(module, args):
        seen["clip"] = args[0].clone()

    def vae_hook(module, args):
        seen.setdefault("vae", args[0].clone())

    handles = [
        trained_pipe.unet.register_forward_pre_hook(unet_hook, with_kwargs=True),
        trained_pipe.image_encoder.register_forward_pre_hook(clip_hook),
    ]
    handles.append(trained_pipe.vae.encoder.register_forward_pre_hook(vae_hook))
    white = PIL.Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    try:
        _run(trained_pipe, white, traj, fps=9, motion_bucket_id=40, noise_aug_strength=0.1)
    finally:
        for handle in handles:
            handle.remove()
    # [fps, motion bucket, noise augmentation] for both CFG halves
    np.testing.assert_allclose(seen["ids"].numpy(), [[9.0, 40.0, 0.1]] * 2, rtol=1e-6)
    # CLIP input: a white image normalised with CLIP's mean/std
    mean = np.array([0.48145466, 0.4578275, 0.40821073])
    std = np.array([0.26862954, 0.26130258, 0.27577711])
    np.testing.assert_allclose(seen["clip"][0].mean(dim=(1, 2)).numpy(), (1 - mean) / std, atol=1e-3)
    # the VAE sees the image in [-1, 1] plus Gaussian noise of std 0.1 (pixel space)
    offset = seen["vae"] - 1.0
    assert abs(float(offset.std()) - 0.1) < 0.01 and abs(float(offset.mean())) < 0.01


def test_training_batch_uses_the_pipeline_preprocessing(trained_pipe, image):
    from posetraj.training.step import encode_batch

    first = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)[None] * 2 - 1
    video = first[:, None].repeat(1, F, 1, 1, 1)
    cond = torch.zeros(1, F, 3, SIZE, SIZE)
    batch = encode_batch(trained_pipe, video, cond, fps=6, motion_bucket_id=127, noise_aug_strength=0.02,
                         generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = trained_pipe._encode_image(image, "cpu", 1, False)
    torch.testing.assert_close(batch.image_embeddings, expected, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(batch.added_time_ids.numpy(), [[6.0, 127.0, 0.02]], rtol=1e-6)
    assert tuple(batch.latents.shape) == (1, F, 4, SIZE // 8, SIZE // 8)
    assert tuple(batch.image_latents.shape) == (1, 4, SIZE // 8, SIZE // 8)


def test_save_pretrained_round_trip_is_exact(trained_pipe, image, traj, tmp_path):
    trained_pipe.save_pretrained(tmp_path / "pipe")
    index = json.loads((tmp_path / "pipe" / "model_index.json").read_text())
    assert index["controlnet"] == ["posetraj.models.controlnet", "TrajControlNetModel"]
    assert (tmp_path / "pipe" / "controlnet" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = PoseTrajPipeline.from_pretrained(tmp_path / "pipe")
    loaded.set_progress_bar_config(disable=True)
    assert np.array_equal(_run(loaded, image, traj), _run(trained_pipe, image, traj))


def test_from_svd_folder_with_saved_controlnet(trained_pipe, components, image, traj, tmp_path):
    from posetraj.tiny import write_tiny_svd

    svd_dir = write_tiny_svd(tmp_path / "svd", num_frames=F)
    assert json.loads((svd_dir / "model_index.json").read_text())["feature_extractor"][1] == "CLIPImageProcessor"
    trained_pipe.controlnet.save_pretrained(tmp_path / "cn")
    pipe = PoseTrajPipeline.from_svd(svd_dir, tmp_path / "cn")
    pipe.set_progress_bar_config(disable=True)
    assert np.array_equal(_run(pipe, image, traj), _run(trained_pipe, image, traj))
    with pytest.raises(FileNotFoundError, match="model_index.json"):
        PoseTrajPipeline.from_svd(tmp_path / "cn")


def test_gaussian_encoding_camera_and_accumulating_variants_run(components, image, traj):
    for options in ({"conditioning_encoding": "gaussian"}, {"use_camera": True},
                    {"residual_injection": "accumulate"}):
        controlnet = _perturb(TrajControlNetModel.from_unet(components["unet"], **options))
        pipe = _pipe(components, controlnet)
        camera = np.zeros((F, 12), np.float32) if options.get("use_camera") else None
        frames = _run(pipe, image, traj, camera=camera)
        assert frames.shape == (1, F, SIZE, SIZE, 3) and np.isfinite(frames).all()


def test_attention_uses_sdpa(trained_pipe):
    from diffusers.models.attention_processor import Attention, AttnProcessor2_0

    modules = (*trained_pipe.unet.modules(), *trained_pipe.controlnet.modules())
    attention = [m for m in modules if isinstance(m, Attention)]
    assert attention and all(isinstance(m.processor, AttnProcessor2_0) for m in attention)


def test_bad_conditioning_shape(trained_pipe, image):
    with pytest.raises(ValueError, match="conditioning must have shape"):
        _run(trained_pipe, image, np.zeros((F, 2, SIZE, SIZE), np.float32))


def test_cfg_off_and_bf16_run(components, image, traj):
    pipe = _pipe(copy.deepcopy(components))
    frames = _run(pipe, image, traj, max_guidance_scale=1.0)
    assert frames.shape == (1, F, SIZE, SIZE, 3)
    pipe.to(torch.bfloat16)
    low = _run(pipe, image, traj)
    assert np.isfinite(low).all()
