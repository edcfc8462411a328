"""PSNR / SSIM hand cases, the Fréchet formula on known Gaussians, LPIPS and the FID/FVD feature
pipelines with tiny random networks (real weights cannot be downloaded here)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.metrics.frechet import FeatureStats, feature_stats, frechet_distance
from benchmark.metrics.image import image_metrics, psnr_frames, ssim_image


def test_psnr_hand_computed():
    a = np.zeros((2, 4, 4, 3), np.uint8)
    b = a.copy()
    b[1] = 5  # MSE 25 -> 10 log10(255^2 / 25)
    p = psnr_frames(b, a)
    assert p[0] == pytest.approx(100.0)  # identical frames hit the cap
    assert p[1] == pytest.approx(10 * np.log10(255**2 / 25))


def test_ssim_hand_cases():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (24, 24, 3)).astype(np.uint8)
    assert ssim_image(img, img) == pytest.approx(1.0)
    # two constant images: only the luminance term remains, (2 m1 m2 + C1) / (m1^2 + m2^2 + C1)
    a, b = np.full((16, 16, 3), 100, np.uint8), np.full((16, 16, 3), 150, np.uint8)
    c1 = (0.01 * 255) ** 2
    assert ssim_image(a, b) == pytest.approx((2 * 100 * 150 + c1) / (100**2 + 150**2 + c1), rel=1e-5)
    noisy = np.clip(img + rng.normal(0, 40, img.shape), 0, 255).astype(np.uint8)
    assert 0 < ssim_image(img, noisy) < 0.9


def test_ssim_matches_a_float64_transcription_of_the_definition():
    from scipy.ndimage import gaussian_filter

    def reference(x, y):
        x, y = x.astype(np.float64), y.astype(np.float64)
        blur = lambda z: gaussian_filter(z, sigma=(1.5, 1.5, 0), truncate=3.5, mode="reflect")  # noqa: E731
        mx, my = blur(x), blur(y)
        vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
        c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
        return (((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean()

    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (40, 56, 3)).astype(np.uint8)
    b = np.clip(a + rng.normal(0, 30, a.shape), 0, 255).astype(np.uint8)
    assert ssim_image(a, b) == pytest.approx(reference(a, b), abs=2e-6)


def test_image_metrics_skip_frame_zero():
    a = np.zeros((3, 8, 8, 3), np.uint8)
    b = a.copy()
    b[0] = 255  # the given image is not scored
    m = image_metrics(b, a)
    assert m["psnr"] == pytest.approx(100.0) and m["ssim"] == pytest.approx(1.0)


def test_identical_frames_skip_ssim_and_score_exactly(monkeypatch):
    """Frames equal to their reference get SSIM 1 and the PSNR cap without the blurs; the others as defined."""
    import benchmark.metrics.image as image

    rng = np.random.default_rng(5)
    reference = rng.integers(0, 256, (4, 16, 20, 3)).astype(np.uint8)
    video = reference.copy()
    video[2] = np.clip(video[2] + rng.normal(0, 20, video[2].shape), 0, 255).astype(np.uint8)
    expected_ssim = (1.0 + ssim_image(video[2], reference[2]) + 1.0) / 3
    expected_psnr = (100.0 + psnr_frames(video[2:3], reference[2:3])[0] + 100.0) / 3
    calls = []
    real = image.ssim_image
    monkeypatch.setattr(image, "ssim_image", lambda a, b: calls.append(1) or real(a, b))
    m = image.image_metrics(video, reference)
    assert len(calls) == 1  # only frame 2 differs (frame 0 is not scored)
    assert m["ssim"] == pytest.approx(expected_ssim, abs=1e-12) and m["psnr"] == pytest.approx(expected_psnr)
    assert image.image_metrics(reference, reference) == {"psnr": 100.0, "ssim": 1.0}
    assert len(calls) == 1


def test_frechet_distance_of_known_gaussians():
    # N(m1, diag(s1)), N(m2, diag(s2)): |m1-m2|^2 + sum (sqrt s1 - sqrt s2)^2
    a = FeatureStats(mu=np.array([0.0, 1.0]), sigma=np.diag([4.0, 1.0]), count=10)
    b = FeatureStats(mu=np.array([3.0, 1.0]), sigma=np.diag([1.0, 9.0]), count=10)
    assert frechet_distance(a, b) == pytest.approx(9 + (2 - 1) ** 2 + (1 - 3) ** 2)
    # a full covariance against itself is 0
    rng = np.random.default_rng(0)
    f = rng.normal(size=(500, 5)) @ rng.normal(size=(5, 5))
    s = feature_stats(f)
    assert frechet_distance(s, s) == pytest.approx(0.0, abs=1e-6)
    # sampled Gaussians approach the closed form
    g1 = feature_stats(rng.normal(0, 1, (20000, 3)))
    g2 = feature_stats(rng.normal(1, 2, (20000, 3)))
    assert frechet_distance(g1, g2) == pytest.approx(3 * 1 + 3 * (1 - 2) ** 2, rel=0.05)


def test_feature_stats_reject_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        feature_stats(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="NaN"):
        feature_stats(np.full((3, 2), np.nan))


@pytest.mark.torch
def test_fid_and_fvd_pipelines_with_tiny_scripted_networks(tmp_path):
    import torch

    from benchmark.metrics.feature_nets import (MissingWeightsError, fid, fvd, i3d_features, inception_features,
                                                load_torchscript)

    class TinyInception(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 5, stride=4)

        def forward(self, x: torch.Tensor, return_features: bool = True) -> torch.Tensor:
            assert x.shape[-2:] == (299, 299)
            return self.conv(x / 255.0).mean(dim=(2, 3))

    class TinyI3D(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv3d(3, 3, (1, 8, 8), stride=(1, 8, 8))

        def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                    return_features: bool = True) -> torch.Tensor:
            return self.conv(x).mean(dim=(2, 3, 4))

    torch.manual_seed(0)
    for name, net in (("inc.pt", TinyInception()), ("i3d.pt", TinyI3D())):
        torch.jit.script(net).save(str(tmp_path / name))
    inc = load_torchscript(tmp_path / "inc.pt", "FID Inception")
    i3d = load_torchscript(tmp_path / "i3d.pt", "FVD I3D")
    rng = np.random.default_rng(0)
    real = [rng.integers(0, 256, (4, 32, 40, 3)).astype(np.uint8) for _ in range(6)]
    frames = np.concatenate(real)
    feats = inception_features(inc, frames)
    assert feats.shape == (24, 4)
    assert fid(inc, frames, frames) == pytest.approx(0.0, abs=1e-6)
    darker = [(v // 3).astype(np.uint8) for v in real]
    assert fid(inc, np.concatenate(darker), frames) > 1e-3
    assert i3d_features(i3d, real).shape == (6, 3)
    assert fvd(i3d, real, real) == pytest.approx(0.0, abs=1e-6)
    assert fvd(i3d, darker, real) > 1e-3
    with pytest.raises(MissingWeightsError, match="inception-2015-12-05.pt|never downloaded"):
        load_torchscript(tmp_path / "inception-2015-12-05.pt", "FID Inception")


@pytest.mark.torch
def test_lpips_loads_official_layout_and_orders_distortions(tmp_path):
    import torch

    from benchmark.metrics.feature_nets import MissingWeightsError
    from benchmark.metrics.lpips import ALEXNET_WEIGHTS_FILE, LPIPS_HEADS_FILE, LPIPS, load_lpips, lpips_video

    torch.manual_seed(0)
    ref = LPIPS()
    alex = {f"features.{k}": v for k, v in ref.features.state_dict().items()}
    alex["classifier.1.weight"] = torch.zeros(2, 2)  # torchvision files also hold the classifier
    heads = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 192, 384, 256, 256))}
    torch.save(alex, tmp_path / ALEXNET_WEIGHTS_FILE)
    with pytest.raises(MissingWeightsError, match="alex.pth"):
        load_lpips(tmp_path)
    torch.save(heads, tmp_path / LPIPS_HEADS_FILE)
    model = load_lpips(tmp_path)
    assert torch.equal(model.heads[2].weight, heads["lin2.model.1.weight"])
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (3, 64, 64, 3)).astype(np.uint8)
    assert lpips_video(model, video, video) == pytest.approx(0.0, abs=1e-7)
    slight = np.clip(video.astype(int) + rng.integers(-8, 9, video.shape), 0, 255).astype(np.uint8)
    heavy = np.clip(video.astype(int) + rng.integers(-120, 121, video.shape), 0, 255).astype(np.uint8)
    assert 0 < lpips_video(model, slight, video) < lpips_video(model, heavy, video)
