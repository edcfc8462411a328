"""The CoTracker3 trackers (``cotracker3-offline`` / ``cotracker3-online``) behind the common interface."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from benchmark.trackers.base import TrackerConfig, Tracker, TrackResult, check_queries, check_video
from common.hashing import sha256_file
from benchmark.trackers.cotracker3.checkpoint import deterministic_state_dict, load_weights
from benchmark.trackers.cotracker3.model import OFFLINE_WINDOW, ONLINE_WINDOW, CoTracker3, CoTracker3Architecture
from benchmark.trackers.cotracker3.predictor import PredictorSettings, predict

DTYPES = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class CoTracker3Config(TrackerConfig):
    """Settings of a CoTracker3 tracker.

    ``checkpoint``: the official ``scaled_offline.pth`` / ``scaled_online.pth`` (or ``random_seed`` for
    deterministic random weights: tests and speed benchmarks only). ``visibility_threshold`` /
    ``visibility_uses_confidence`` default to the official predictors' (offline: vis > 0.9; online:
    vis * conf > 0.6). ``dtype`` float32, or bfloat16 / float16 autocast (GPU; bfloat16 also on CPU).
    """

    checkpoint: str | None = None
    random_seed: int | None = None
    device: str = "cpu"
    dtype: str = "float32"
    iters: int = 6
    support_grid_size: int = 6
    backward_tracking: bool = True
    visibility_threshold: float | None = None
    visibility_uses_confidence: bool | None = None
    point_frame_budget: int = 65536
    model_resolution: tuple[int, int] = field(default=(384, 512))


class CoTracker3Tracker(Tracker):
    def __init__(self, online: bool, config: CoTracker3Config) -> None:
        if (config.checkpoint is None) == (config.random_seed is None):
            raise ValueError("CoTracker3 needs exactly one of checkpoint (a .pth path) or random_seed")
        if config.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {config.dtype!r}")
        if config.dtype == "float16" and not config.device.startswith("cuda"):
            raise ValueError("float16 needs a CUDA device; use float32 or bfloat16 on CPU")
        self.online = online
        self.name = "cotracker3-online" if online else "cotracker3-offline"
        self.config = config
        architecture = CoTracker3Architecture(
            window_len=ONLINE_WINDOW if online else OFFLINE_WINDOW, model_resolution=tuple(config.model_resolution)
        )
        model = CoTracker3(online, architecture)
        self._weights_sha256: str | None = None
        if config.checkpoint is not None:
            path = Path(config.checkpoint).expanduser()
            load_weights(model, path, self.name)
            self._weights_sha256 = sha256_file(path)
        else:
            model.load_state_dict(deterministic_state_dict(model, int(config.random_seed)), strict=True)
        self.model = model.eval().to(config.device)
        self.settings = PredictorSettings(
            iters=config.iters,
            support_grid_size=config.support_grid_size,
            backward_tracking=config.backward_tracking,
            point_frame_budget=config.point_frame_budget,
        )
        default_threshold, default_uses_conf = (0.6, True) if online else (0.9, False)
        self.threshold = default_threshold if config.visibility_threshold is None else config.visibility_threshold
        self.uses_confidence = default_uses_conf if config.visibility_uses_confidence is None else config.visibility_uses_confidence

    def describe(self) -> dict[str, Any]:
        settings = asdict(self.config)
        settings.update(visibility_threshold=self.threshold, visibility_uses_confidence=self.uses_confidence)
        return {
            "tracker": self.name,
            "weights": self.config.checkpoint,
            "weights_sha256": self._weights_sha256,
            "random_weights_seed": self.config.random_seed,
            "settings": settings,
        }

    def _track(self, video: np.ndarray, queries: np.ndarray) -> TrackResult:
        return self._track_stacked(video[None], queries[None])[0]

    def track_batch(self, videos: Sequence[np.ndarray], queries: Sequence[np.ndarray]) -> list[TrackResult]:
        """One batched network pass when all videos share a shape and all query arrays a length."""
        if len(videos) != len(queries):
            raise ValueError(f"{len(videos)} videos but {len(queries)} query arrays")
        checked_videos = [check_video(v) for v in videos]
        checked_queries = [check_queries(q, v.shape[0]) for q, v in zip(queries, checked_videos)]
        if len({v.shape for v in checked_videos}) == 1 and len({q.shape for q in checked_queries}) == 1:
            return self._track_stacked(np.stack(checked_videos), np.stack(checked_queries))
        return [self._track(v, q) for v, q in zip(checked_videos, checked_queries)]

    def _track_stacked(self, videos: np.ndarray, queries: np.ndarray) -> list[TrackResult]:
        device = torch.device(self.config.device)
        video_t = torch.from_numpy(np.ascontiguousarray(videos)).to(device).permute(0, 1, 4, 2, 3)
        queries_t = torch.from_numpy(queries).to(device)
        coords, vis, conf = predict(self.model, video_t, queries_t, self.settings, DTYPES[self.config.dtype])
        score = vis * conf if self.uses_confidence else vis
        visible = score > self.threshold
        frames = queries_t[..., 0].long()
        visible.scatter_(1, frames[:, None, :], True)  # a query is visible at its own frame
        return [
            TrackResult(
                tracks=coords[i].cpu().numpy().astype(np.float32),
                visibility=visible[i].cpu().numpy(),
                confidence=conf[i].cpu().numpy().astype(np.float32),
            )
            for i in range(coords.shape[0])
        ]
