"""Feature extractors for FID and FVD, loaded from local files only (never downloaded).

* FID: ``inception-2015-12-05.pt``, the TorchScript Inception-v3 (TF "2015-12-05" graph) that
  StyleGAN2-ADA and clean-fid use; called as ``net(x, return_features=True)`` on (B, 3, 299, 299)
  float images in [0, 255], it returns the 2048-d pool features.
* FVD: ``i3d_torchscript.pt``, the TorchScript I3D (Kinetics-400) of StyleGAN-V / fvd-comparison;
  called as ``net(x, rescale=False, resize=False, return_features=True)`` on (B, 3, T, 224, 224)
  videos in [−1, 1] (resized and scaled here, as the TF reference does), it returns 400-d features.

TorchScript archives carry their own graph, so no Python code from the file runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FID_WEIGHTS_FILE = "inception-2015-12-05.pt"
FVD_WEIGHTS_FILE = "i3d_torchscript.pt"


class MissingWeightsError(FileNotFoundError):
    """A feature extractor's weights file is not on disk."""


def load_torchscript(path: str | Path, what: str):
    """Load a TorchScript feature network from a local path, with a clear error when absent."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(
            f"{what} weights not found at {path}; place the file there (it is never downloaded), "
            "see docs/benchmark.md#fidelity-metrics")
    return torch.jit.load(str(path), map_location="cpu").eval()


def inception_features(net, frames: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """(N, H, W, 3) uint8 frames → (N, D) features of the FID Inception network."""
    import torch
    import torch.nn.functional as F

    out = []
    with torch.no_grad():
        for start in range(0, len(frames), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(frames[start:start + batch_size])).permute(0, 3, 1, 2).float()
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
            out.append(net(x, return_features=True).reshape(len(x), -1).double().numpy())
    return np.concatenate(out)


def i3d_features(net, videos: list[np.ndarray]) -> np.ndarray:
    """List of (T, H, W, 3) uint8 videos → (N, D) features of the FVD I3D network."""
    import torch
    import torch.nn.functional as F

    out = []
    with torch.no_grad():
        for video in videos:
            x = torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).float()  # T,3,H,W
            x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
            x = (x / 127.5 - 1.0).permute(1, 0, 2, 3).unsqueeze(0)  # 1,3,T,224,224
            out.append(net(x, rescale=False, resize=False, return_features=True).reshape(1, -1).double().numpy())
    return np.concatenate(out)


def fid(net, generated_frames: np.ndarray, real_frames: np.ndarray) -> float:
    """FID over individual frames (all frames of all videos, as DragAnything's protocol)."""
    from benchmark.metrics.frechet import feature_stats, frechet_distance

    return frechet_distance(feature_stats(inception_features(net, generated_frames)),
                            feature_stats(inception_features(net, real_frames)))


def fvd(net, generated: list[np.ndarray], real: list[np.ndarray]) -> float:
    """FVD over whole videos (one I3D feature vector per video)."""
    from benchmark.metrics.frechet import feature_stats, frechet_distance

    return frechet_distance(feature_stats(i3d_features(net, generated)), feature_stats(i3d_features(net, real)))
