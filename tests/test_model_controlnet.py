"""Traj-ControlNet, residual injection into the stock SVD UNet, camera module, training step."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from posetraj.models.camera import CameraFusion, camera_vectors_from_w2c  # noqa: E402
from posetraj.models.controlnet import TrajControlNetModel  # noqa: E402
from posetraj.models.unet import ResidualUNet, skip_multiplicities  # noqa: E402
from posetraj.tiny import tiny_svd_components  # noqa: E402
from posetraj.training.step import TrainingBatch, edm_training_loss  # noqa: E402

pytestmark = pytest.mark.torch
B, F = 2, 8


@pytest.fixture(scope="module")
def unet():
    return tiny_svd_components(num_frames=F)["unet"]


@pytest.fixture(scope="module")
def inputs():
    g = torch.Generator().manual_seed(0)
    return {
        "sample": torch.randn(B, F, 8, 8, 8, generator=g),
        "timestep": torch.tensor(0.4),
        "encoder_hidden_states": torch.randn(B, 1, 32, generator=g),
        "added_time_ids": torch.tensor([[6.0, 127.0, 0.02]] * B),
        "cond": torch.rand(B, F, 3, 64, 64, generator=g) * 2 - 1,
    }


def _perturbed(controlnet: TrajControlNetModel, seed: int = 1) -> TrajControlNetModel:
    """A copy whose zero-initialised convs are random, as after some training."""
    model = copy.deepcopy(controlnet)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        convs = [*model.controlnet_down_blocks, model.controlnet_mid_block, model.controlnet_cond_embedding.conv_out]
        for conv in convs:
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.05)
    return model.eval()


def _controlnet_out(controlnet, inputs, **kwargs):
    with torch.no_grad():
        return controlnet(inputs["sample"], inputs["timestep"], inputs["encoder_hidden_states"],
                          inputs["added_time_ids"], inputs["cond"], return_dict=False, **kwargs)


def _unet_out(wrapper, inputs, down=None, mid=None, injection="once"):
    with torch.no_grad():
        return wrapper(inputs["sample"], inputs["timestep"], inputs["encoder_hidden_states"],
                       inputs["added_time_ids"], down, mid, injection=injection)


def _stock_out(unet, inputs):
    with torch.no_grad():
        return unet(inputs["sample"], inputs["timestep"], encoder_hidden_states=inputs["encoder_hidden_states"],
                    added_time_ids=inputs["added_time_ids"]).sample


def test_from_unet_copies_encoder_and_embeddings(unet):
    controlnet = TrajControlNetModel.from_unet(unet)
    for name in ("conv_in", "time_embedding", "add_embedding", "down_blocks", "mid_block"):
        ours, theirs = getattr(controlnet, name).state_dict(), getattr(unet, name).state_dict()
        assert ours.keys() == theirs.keys()
        for key in ours:
            assert torch.equal(ours[key], theirs[key]), f"{name}.{key}"
    assert len(controlnet.controlnet_down_blocks) == len(skip_multiplicities(unet, "once")) == 4
    zero = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block,
            controlnet.controlnet_cond_embedding.conv_out]
    assert all(float(p.detach().abs().max()) == 0.0 for m in zero for p in m.parameters())


def test_zero_initialised_controlnet_leaves_the_unet_unchanged(unet, inputs):
    controlnet = TrajControlNetModel.from_unet(unet).eval()
    down, mid = _controlnet_out(controlnet, inputs)
    assert [tuple(d.shape) for d in down] == [(16, 32, 8, 8), (16, 32, 8, 8), (16, 32, 4, 4), (16, 64, 4, 4)]
    assert all(float(d.abs().max()) == 0.0 for d in down) and float(mid.abs().max()) == 0.0
    wrapper = ResidualUNet(unet)
    try:
        stock = _stock_out(unet, inputs)
        assert torch.equal(_unet_out(wrapper, inputs), stock)  # hooks inert without residuals
        assert torch.equal(_unet_out(wrapper, inputs, down, mid), stock)
        assert torch.equal(_unet_out(wrapper, inputs, down, mid, "accumulate"), stock)
    finally:
        wrapper.remove_hooks()


def test_residuals_change_the_output_and_conditioning_scale_scales_them(unet, inputs):
    controlnet = _perturbed(TrajControlNetModel.from_unet(unet))
    down, mid = _controlnet_out(controlnet, inputs)
    half_down, half_mid = _controlnet_out(controlnet, inputs, conditioning_scale=0.5)
    for full, half in zip((*down, mid), (*half_down, half_mid)):
        torch.testing.assert_close(half, full * 0.5)
    wrapper = ResidualUNet(unet)
    try:
        assert float((_unet_out(wrapper, inputs, down, mid) - _stock_out(unet, inputs)).abs().max()) > 1e-3
        # the trajectory matters: other conditioning, other residuals
        other = dict(inputs, cond=-inputs["cond"])
        other_down, _ = _controlnet_out(controlnet, other)
        assert float((other_down[0] - down[0]).abs().max()) > 1e-4
    finally:
        wrapper.remove_hooks()


def test_precomputed_conditioning_features_give_the_same_residuals(unet, inputs):
    controlnet = _perturbed(TrajControlNetModel.from_unet(unet))
    direct = _controlnet_out(controlnet, inputs)
    with torch.no_grad():
        features = controlnet.encode_conditioning(inputs["cond"])
        cached = controlnet(inputs["sample"], inputs["timestep"], inputs["encoder_hidden_states"],
                            inputs["added_time_ids"], conditioning_features=features, return_dict=False)
    assert tuple(features.shape) == (B * F, 32, 8, 8)
    for a, b in zip((*direct[0], direct[1]), (*cached[0], cached[1])):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="controlnet_cond or conditioning_features"):
        controlnet(inputs["sample"], inputs["timestep"], inputs["encoder_hidden_states"], inputs["added_time_ids"])


def test_accumulating_injection_differs_only_by_skip_multiplicity(unet, inputs):
    assert skip_multiplicities(unet, "accumulate") == [2, 2, 2, 1]
    g = torch.Generator().manual_seed(3)
    down = [torch.randn(s, generator=g) * 0.1 for s in [(16, 32, 8, 8), (16, 32, 8, 8), (16, 32, 4, 4), (16, 64, 4, 4)]]
    mid = torch.randn(16, 64, 4, 4, generator=g) * 0.1
    wrapper = ResidualUNet(unet)
    try:
        once = _unet_out(wrapper, inputs, down, mid)
        accumulated = _unet_out(wrapper, inputs, down, mid, "accumulate")
        assert float((accumulated - once).abs().max()) > 1e-3
        scaled = [d * k for d, k in zip(down, skip_multiplicities(unet, "accumulate"))]
        torch.testing.assert_close(_unet_out(wrapper, inputs, scaled, mid), accumulated, atol=1e-5, rtol=1e-5)
        # the mid residual and the deepest skip are added once in both modes
        zeros = [torch.zeros_like(d) for d in down]
        only_last = zeros[:-1] + [down[-1]]
        assert torch.equal(_unet_out(wrapper, inputs, only_last, mid, "accumulate"),
                           _unet_out(wrapper, inputs, only_last, mid))
        with pytest.raises(ValueError, match="4 skips"):
            _unet_out(wrapper, inputs, down[:3], mid)
        with pytest.raises(ValueError, match="both"):
            _unet_out(wrapper, inputs, down, None)
    finally:
        wrapper.remove_hooks()


def test_real_svd_layout_has_the_original_multiplicities():
    from accelerate import init_empty_weights
    from diffusers import UNetSpatioTemporalConditionModel

    with init_empty_weights():
        real = UNetSpatioTemporalConditionModel(num_frames=14)
    assert skip_multiplicities(real, "accumulate") == [4, 4, 4, 4, 3, 3, 3, 2, 2, 2, 1, 1]
    assert skip_multiplicities(real, "once") == [1] * 12


def test_camera_module_is_a_noop_at_init_and_fuses_when_trained():
    fusion = CameraFusion(8).eval()
    feats = torch.randn(6, 8, 5, 5)
    cam = torch.randn(2, 3, 12)
    assert torch.equal(fusion(feats, cam, 3), feats)
    assert torch.equal(fusion(feats, None, 3), feats)
    with torch.no_grad():
        fusion.cc_projection.weight[:, 8:].normal_()
    assert float((fusion(feats, cam, 3) - feats).detach().abs().max()) > 1e-3
    assert torch.equal(fusion(feats, None, 3), feats)  # no-camera mode = zeros
    dropping = CameraFusion(8, dropout_prob=1.0)
    dropping.load_state_dict(fusion.state_dict())
    dropping.train()
    assert torch.equal(dropping(feats, cam, 3), feats)  # whole sequence dropped
    with pytest.raises(ValueError, match="camera must have shape"):
        fusion(feats, torch.zeros(2, 4, 12), 3)


def test_camera_controlnet_matches_plain_at_init(unet, inputs):
    plain = _perturbed(TrajControlNetModel.from_unet(unet))
    with_camera = TrajControlNetModel.from_unet(unet, use_camera=True)
    missing = with_camera.load_state_dict(plain.state_dict(), strict=False)
    assert all("camera" in k for k in missing.missing_keys) and not missing.unexpected_keys
    with_camera.eval()
    camera = torch.randn(B, F, 12)
    ours = _controlnet_out(with_camera, inputs, camera=camera)
    theirs = _controlnet_out(plain, inputs)
    for a, b in zip((*ours[0], ours[1]), (*theirs[0], theirs[1])):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="no camera module"):
        _controlnet_out(plain, inputs, camera=camera)


def test_camera_vectors_are_relative_poses():
    def pose(angle: float, t: tuple[float, float, float]) -> np.ndarray:
        c, s = np.cos(angle), np.sin(angle)
        m = np.eye(4)
        m[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
        m[:3, 3] = t
        return m

    w2c = np.stack([pose(0.3, (1, 2, 3)), pose(0.5, (1, 0, 3))])
    vec = camera_vectors_from_w2c(w2c)
    assert vec.shape == (2, 12) and vec.dtype == np.float32
    np.testing.assert_allclose(vec[0], np.r_[np.eye(3).ravel(), 0, 0, 0], atol=1e-6)
    rel = w2c[1] @ np.linalg.inv(w2c[0])
    np.testing.assert_allclose(vec[1], np.r_[rel[:3, :3].ravel(), rel[:3, 3]], atol=1e-6)


def test_save_and_load_round_trip(unet, inputs, tmp_path):
    controlnet = _perturbed(TrajControlNetModel.from_unet(unet, residual_injection="accumulate",
                                                          conditioning_encoding="gaussian", use_camera=True))
    controlnet.save_pretrained(tmp_path / "cn")
    assert (tmp_path / "cn" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = TrajControlNetModel.from_pretrained(tmp_path / "cn").eval()
    assert loaded.config.residual_injection == "accumulate" and loaded.config.conditioning_encoding == "gaussian"
    camera = torch.randn(B, F, 12)
    ours, theirs = _controlnet_out(loaded, inputs, camera=camera), _controlnet_out(controlnet, inputs, camera=camera)
    for a, b in zip((*ours[0], ours[1]), (*theirs[0], theirs[1])):
        assert torch.equal(a, b)


def test_config_errors():
    with pytest.raises(ValueError, match="residual_injection"):
        TrajControlNetModel(residual_injection="twice")


def _batch(inputs) -> TrainingBatch:
    g = torch.Generator().manual_seed(5)
    return TrainingBatch(
        latents=torch.randn(1, F, 4, 8, 8, generator=g), image_latents=torch.randn(1, 4, 8, 8, generator=g),
        image_embeddings=torch.randn(1, 1, 32, generator=g), added_time_ids=torch.tensor([[6.0, 127.0, 0.02]]),
        conditioning=inputs["cond"][:1],
    )


def test_training_step_is_differentiable_and_deterministic(unet, inputs):
    frozen = copy.deepcopy(unet).requires_grad_(False)
    wrapper = ResidualUNet(frozen)
    controlnet = TrajControlNetModel.from_unet(frozen).train()
    batch = _batch(inputs)
    loss = edm_training_loss(controlnet, wrapper, batch, torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is None for p in frozen.parameters())
    # zero-convolution dynamics: only the output zero convs get a gradient at the first step
    assert float(controlnet.controlnet_mid_block.weight.grad.abs().max()) > 0
    assert all(float(c.weight.grad.abs().max()) > 0 for c in controlnet.controlnet_down_blocks)
    assert float(controlnet.down_blocks[0].resnets[0].spatial_res_block.conv1.weight.grad.abs().max()) == 0
    again = edm_training_loss(controlnet, wrapper, batch, torch.Generator().manual_seed(0))
    assert float(again.detach()) == float(loss.detach())
    other = edm_training_loss(controlnet, wrapper, batch, torch.Generator().manual_seed(1))
    assert float(other.detach()) != float(loss.detach())
    controlnet.enable_gradient_checkpointing()
    checkpointed = edm_training_loss(controlnet, wrapper, batch, torch.Generator().manual_seed(0))
    assert float(checkpointed.detach()) == pytest.approx(float(loss.detach()), rel=1e-6)
    wrapper.remove_hooks()


def test_one_optimiser_step_reduces_the_loss_on_a_fixed_batch(unet, inputs):
    frozen = copy.deepcopy(unet).requires_grad_(False)
    wrapper = ResidualUNet(frozen)
    controlnet = _perturbed(TrajControlNetModel.from_unet(frozen)).train()
    optimiser = torch.optim.SGD(controlnet.parameters(), lr=1e-3)
    batch = _batch(inputs)
    losses = []
    for _ in range(3):
        optimiser.zero_grad()
        loss = edm_training_loss(controlnet, wrapper, batch, torch.Generator().manual_seed(0))
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[2] < losses[0]
    wrapper.remove_hooks()
