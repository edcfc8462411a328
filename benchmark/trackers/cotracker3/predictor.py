"""The official predictor conventions around the CoTracker3 network.

* the video is resized to the model resolution (bilinear, ``align_corners=True``) and query / output
  coordinates are scaled by ``(W_model - 1) / (W - 1)`` and back, which maps pixel centres to pixel
  centres (our convention: centres at integer coordinates);
* a support grid of ``support_grid_size``² points on frame 0 is tracked with the queries and dropped;
* optional backward tracking (time-flipped video) for the frames before each query's frame;
* at each query's own frame the output is the query itself, visible;
* many queries are split into passes of at most ``point_frame_budget // T`` points (memory bound; the
  points of one pass attend to each other through the virtual tracks, so the split changes results
  slightly; the default budget keeps one pass for typical clips).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from benchmark.trackers.cotracker3.model import CoTracker3


@dataclass(frozen=True)
class PredictorSettings:
    iters: int = 6
    support_grid_size: int = 6
    backward_tracking: bool = False
    point_frame_budget: int = 65536


def grid_points(size: int, height: int, width: int) -> torch.Tensor:
    """(size², 2) (x, y) grid over an image, margin width/64, row-major (as the official predictor)."""
    if size == 1:
        return torch.tensor([[width / 2, height / 2]], dtype=torch.float32)
    margin = width / 64
    ys = torch.linspace(margin, height - margin, size)
    xs = torch.linspace(margin, width - margin, size)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y], dim=-1).reshape(-1, 2)


def grid_queries(size: int, height: int, width: int, frame: int, model_resolution: tuple[int, int]) -> torch.Tensor:
    """(size², 3) (t, x, y) queries in input pixels: the official grid mode (grid at model resolution, mapped back)."""
    model_h, model_w = model_resolution
    points = grid_points(size, model_h, model_w)
    points = points * torch.tensor([(width - 1) / (model_w - 1), (height - 1) / (model_h - 1)])
    return torch.cat([torch.full((points.shape[0], 1), float(frame)), points], dim=1)


def _run_model(model: CoTracker3, video: torch.Tensor, queries: torch.Tensor, iters: int) -> tuple[torch.Tensor, ...]:
    coords, vis, conf = model(video, queries, iters=iters)
    return coords.float(), torch.sigmoid(vis.float()), torch.sigmoid(conf.float())


def _track_pass(model: CoTracker3, video: torch.Tensor, queries: torch.Tensor, settings: PredictorSettings) -> tuple[torch.Tensor, ...]:
    """One pass on a model-resolution video; queries (B, N, 3) at model resolution (support grid included)."""
    coords, vis, conf = _run_model(model, video, queries, settings.iters)
    n_frames = video.shape[1]
    if settings.backward_tracking and bool((queries[..., 0] > 0).any()):
        flipped = queries.clone()
        flipped[..., 0] = n_frames - 1 - flipped[..., 0]
        back_coords, back_vis, back_conf = (x.flip(1) for x in _run_model(model, video.flip(1), flipped, settings.iters))
        before = torch.arange(n_frames, device=video.device)[None, :, None] < queries[:, None, :, 0]
        coords = torch.where(before[..., None], back_coords, coords)
        vis = torch.where(before, back_vis, vis)
        conf = torch.where(before, back_conf, conf)
    return coords, vis, conf


@torch.no_grad()
def predict(
    model: CoTracker3,
    video: torch.Tensor,
    queries: torch.Tensor,
    settings: PredictorSettings,
    autocast_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """video (B, T, 3, H, W) float in [0, 255]; queries (B, N, 3) (t, x, y) pixels.

    Returns tracks (B, T, N, 2) pixels, visibility probabilities and confidence probabilities (B, T, N).
    """
    batch, n_frames, _, height, width = video.shape
    model_h, model_w = model.arch.model_resolution
    if (height, width) != (model_h, model_w):
        resized = F.interpolate(video.flatten(0, 1), (model_h, model_w), mode="bilinear", align_corners=True)
        video = resized.view(batch, n_frames, 3, model_h, model_w)
    to_model = queries.new_tensor([(model_w - 1) / max(width - 1, 1), (model_h - 1) / max(height - 1, 1)])
    scaled = queries.clone().float()
    scaled[..., 1:] = scaled[..., 1:] * to_model
    support = torch.zeros(0, 3, device=video.device)
    if settings.support_grid_size > 0:
        grid = grid_points(settings.support_grid_size, model_h, model_w).to(video.device)
        support = torch.cat([torch.zeros(grid.shape[0], 1, device=video.device), grid], dim=1)
    per_pass = max(1, settings.point_frame_budget // max(n_frames, 1))
    outputs: list[tuple[torch.Tensor, ...]] = []
    autocast = torch.autocast(video.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None)
    with autocast:
        for start in range(0, scaled.shape[1], per_pass):
            chunk = scaled[:, start : start + per_pass]
            with_support = torch.cat([chunk, support[None].expand(batch, -1, -1)], dim=1)
            coords, vis, conf = _track_pass(model, video, with_support, settings)
            n_chunk = chunk.shape[1]
            outputs.append((coords[:, :, :n_chunk], vis[:, :, :n_chunk], conf[:, :, :n_chunk]))
    coords = torch.cat([o[0] for o in outputs], dim=2)
    vis = torch.cat([o[1] for o in outputs], dim=2)
    conf = torch.cat([o[2] for o in outputs], dim=2)
    coords = coords / to_model
    # at its own frame a query is where it was asked and visible
    frames = queries[..., 0].long()
    b_idx = torch.arange(batch, device=video.device)[:, None].expand_as(frames)
    n_idx = torch.arange(frames.shape[1], device=video.device)[None].expand_as(frames)
    coords[b_idx, frames, n_idx] = queries[..., 1:].float()
    vis[b_idx, frames, n_idx] = 1.0
    return coords, vis, conf
