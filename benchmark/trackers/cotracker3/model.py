"""CoTracker3 network (offline and online variants), written from the paper and the documented architecture.

The parameter names reproduce the official checkpoints' state_dict keys exactly (``fnet.*``,
``updateformer.*`` including the upstream spelling ``virual_tracks``, ``corr_mlp.*`` and the
``time_emb`` buffer) so that ``scaled_offline.pth`` / ``scaled_online.pth`` load with ``strict=True``.

Coordinates inside the network are in pixels of the model-resolution video (pixel centres at integer
coordinates, sampling with ``align_corners=True``); features live on a grid ``stride`` times coarser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

LATENT_DIM = 128
HIDDEN_SIZE = 384
NUM_HEADS = 8
TOKEN_DIM = 1110  # 1 visibility + 1 confidence + 4 levels x 256 correlation + 84 relative-motion encoding
POSENC_DEGREES = 10

OFFLINE_WINDOW = 60
ONLINE_WINDOW = 16


@dataclass(frozen=True)
class CoTracker3Architecture:
    """Shape-defining settings; the defaults are the official CoTracker3 ones."""

    window_len: int = OFFLINE_WINDOW
    model_resolution: tuple[int, int] = (384, 512)  # (H, W)
    stride: int = 4
    corr_radius: int = 3
    corr_levels: int = 4
    num_virtual_tracks: int = 64


# --------------------------------------------------------------------------------------------
# Feature encoder
# --------------------------------------------------------------------------------------------


class _ResidualBlock(nn.Module):
    """Two 3x3 convolutions with instance norm; a strided 1x1 projection on the skip path when needed."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.downsample = (
            nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride), nn.InstanceNorm2d(out_channels))
            if stride != 1
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(F.instance_norm(self.conv1(x)))
        y = F.relu(F.instance_norm(self.conv2(y)))
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(skip + y)


class _FeatureEncoder(nn.Module):
    """Per-frame CNN: four residual stages, all resized to 1/stride and fused into 128 channels."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3)
        self.layer1 = nn.Sequential(_ResidualBlock(64, 64, 1), _ResidualBlock(64, 64, 1))
        self.layer2 = nn.Sequential(_ResidualBlock(64, 96, 2), _ResidualBlock(96, 96, 1))
        self.layer3 = nn.Sequential(_ResidualBlock(96, 128, 2), _ResidualBlock(128, 128, 1))
        self.layer4 = nn.Sequential(_ResidualBlock(128, 128, 2), _ResidualBlock(128, 128, 1))
        self.conv2 = nn.Conv2d(64 + 96 + 128 + 128, 256, 3, padding=1)
        self.conv3 = nn.Conv2d(256, LATENT_DIM, 1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        height, width = frames.shape[-2:]
        size = (height // self.stride, width // self.stride)
        x = F.relu(F.instance_norm(self.conv1(frames)))
        stages = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            stages.append(F.interpolate(x, size, mode="bilinear", align_corners=True))
        x = F.relu(F.instance_norm(self.conv2(torch.cat(stages, dim=1))))
        return self.conv3(x)


# --------------------------------------------------------------------------------------------
# Transformer
# --------------------------------------------------------------------------------------------


class _Mlp(nn.Module):
    def __init__(self, in_features: int, hidden: int, out_features: int, tanh_gelu: bool) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, out_features)
        self.gelu_approximation = "tanh" if tanh_gelu else "none"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate=self.gelu_approximation))


class _MultiHeadAttention(nn.Module):
    """Attention with a query projection and a fused key/value projection (no mask: CoTracker3 uses none)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(dim, 2 * dim)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        batch, n_query, dim = x.shape
        head_dim = dim // NUM_HEADS
        q = self.to_q(x).view(batch, n_query, NUM_HEADS, head_dim).transpose(1, 2)
        k, v = self.to_kv(context).view(batch, context.shape[1], 2, NUM_HEADS, head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out(out.transpose(1, 2).reshape(batch, n_query, dim))


class _SelfAttentionBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = _MultiHeadAttention(HIDDEN_SIZE)
        self.mlp = _Mlp(HIDDEN_SIZE, 4 * HIDDEN_SIZE, HIDDEN_SIZE, tanh_gelu=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = F.layer_norm(x, (HIDDEN_SIZE,), eps=1e-6)
        x = x + self.attn(normed, normed)
        return x + self.mlp(F.layer_norm(x, (HIDDEN_SIZE,), eps=1e-6))


class _CrossAttentionBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm_context = nn.LayerNorm(HIDDEN_SIZE)
        self.cross_attn = _MultiHeadAttention(HIDDEN_SIZE)
        self.mlp = _Mlp(HIDDEN_SIZE, 4 * HIDDEN_SIZE, HIDDEN_SIZE, tanh_gelu=True)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = x + self.cross_attn(F.layer_norm(x, (HIDDEN_SIZE,), eps=1e-6), self.norm_context(context))
        return x + self.mlp(F.layer_norm(x, (HIDDEN_SIZE,), eps=1e-6))


class _UpdateTransformer(nn.Module):
    """Alternates attention along time (per track) and across tracks (per frame, through virtual tracks)."""

    def __init__(self, num_virtual_tracks: int, depth: int = 3) -> None:
        super().__init__()
        self.input_transform = nn.Linear(TOKEN_DIM, HIDDEN_SIZE)
        self.flow_head = nn.Linear(HIDDEN_SIZE, 2)
        self.vis_conf_head = nn.Linear(HIDDEN_SIZE, 2)
        self.virual_tracks = nn.Parameter(torch.zeros(1, num_virtual_tracks, 1, HIDDEN_SIZE))  # upstream spelling
        self.time_blocks = nn.ModuleList(_SelfAttentionBlock() for _ in range(depth))
        self.space_virtual_blocks = nn.ModuleList(_SelfAttentionBlock() for _ in range(depth))
        self.space_point2virtual_blocks = nn.ModuleList(_CrossAttentionBlock() for _ in range(depth))
        self.space_virtual2point_blocks = nn.ModuleList(_CrossAttentionBlock() for _ in range(depth))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, N, T, TOKEN_DIM) -> updates (B, N, T, 4) = (dx, dy, dvis, dconf)."""
        batch, n_points, n_frames, _ = tokens.shape
        x = self.input_transform(tokens)
        virtual = self.virual_tracks.expand(batch, -1, n_frames, -1).to(x.dtype)
        x = torch.cat([x, virtual], dim=1)
        n_all = x.shape[1]
        for time_block, v2p, virtual_block, p2v in zip(
            self.time_blocks, self.space_virtual2point_blocks, self.space_virtual_blocks, self.space_point2virtual_blocks
        ):
            x = time_block(x.reshape(batch * n_all, n_frames, HIDDEN_SIZE)).view(batch, n_all, n_frames, HIDDEN_SIZE)
            per_frame = x.transpose(1, 2).reshape(batch * n_frames, n_all, HIDDEN_SIZE)
            points, virtual = per_frame[:, :n_points], per_frame[:, n_points:]
            virtual = virtual_block(v2p(virtual, points))
            points = p2v(points, virtual)
            x = torch.cat([points, virtual], dim=1).view(batch, n_frames, n_all, HIDDEN_SIZE).transpose(1, 2)
        x = x[:, :n_points]
        return torch.cat([self.flow_head(x), self.vis_conf_head(x)], dim=-1)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def sincos_time_embedding(length: int, dim: int = TOKEN_DIM) -> torch.Tensor:
    """(1, length, dim) table: sin of position x frequencies, then cos; frequencies 10000^(-k/(dim/2))."""
    freqs = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0))
    angles = torch.arange(length, dtype=torch.float64)[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)[None].float()


def motion_encoding(x: torch.Tensor, degrees: int = POSENC_DEGREES) -> torch.Tensor:
    """x (..., D) -> (..., D + 2*D*degrees): x, sin(2^k x) for k<degrees (k outer, d inner), then cos."""
    scales = 2.0 ** torch.arange(degrees, dtype=x.dtype, device=x.device)
    scaled = (x[..., None, :] * scales[:, None]).flatten(-2)
    return torch.cat([x, torch.sin(scaled), torch.sin(scaled + 0.5 * math.pi)], dim=-1)


def _window_offsets(radius: int, device: torch.device) -> torch.Tensor:
    """(K*K, 2) (dx, dy) offsets; index a*K + b has dx = a - radius, dy = b - radius."""
    steps = torch.arange(-radius, radius + 1, device=device, dtype=torch.float32)
    dx, dy = torch.meshgrid(steps, steps, indexing="ij")
    return torch.stack([dx, dy], dim=-1).reshape(-1, 2)


def _sample_maps(maps: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear, border-clamped samples of maps (M, C, h, w) at points (M, P, Q, 2) (x, y) -> (M, P, Q, C)."""
    height, width = maps.shape[-2:]
    scale = points.new_tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)])
    grid = points * scale - 1.0
    sampled = F.grid_sample(maps, grid.to(maps.dtype), mode="bilinear", padding_mode="border", align_corners=True)
    return sampled.permute(0, 2, 3, 1)


# --------------------------------------------------------------------------------------------
# The tracker network
# --------------------------------------------------------------------------------------------


class CoTracker3(nn.Module):
    """CoTracker3 network. ``online=False``: one pass over the whole video (offline variant);
    ``online=True``: sliding windows of ``window_len`` frames with half-window steps (online variant)."""

    def __init__(self, online: bool, architecture: CoTracker3Architecture | None = None) -> None:
        super().__init__()
        arch = architecture or CoTracker3Architecture(window_len=ONLINE_WINDOW if online else OFFLINE_WINDOW)
        self.online = online
        self.arch = arch
        self.fnet = _FeatureEncoder(arch.stride)
        self.updateformer = _UpdateTransformer(arch.num_virtual_tracks)
        window = 2 * arch.corr_radius + 1
        self.corr_mlp = _Mlp(window**4, 384, 256, tanh_gelu=False)
        self.register_buffer("time_emb", sincos_time_embedding(arch.window_len))

    # --- features -------------------------------------------------------------------------

    def encode(self, video: torch.Tensor, chunk: int = 16) -> torch.Tensor:
        """video (B, T, 3, H, W) in [0, 255] -> unit-norm features (B, T, 128, H/stride, W/stride)."""
        batch, n_frames = video.shape[:2]
        frames = (video.flatten(0, 1) / 255.0) * 2.0 - 1.0
        maps = torch.cat([self.fnet(frames[i : i + chunk]) for i in range(0, frames.shape[0], chunk)])
        norm = torch.sqrt(torch.clamp(maps.float().square().sum(dim=1, keepdim=True), min=1e-12))
        maps = (maps / norm).to(frames.dtype)
        return maps.view(batch, n_frames, *maps.shape[1:])

    def pyramid(self, maps: torch.Tensor) -> list[torch.Tensor]:
        """Average-pooled pyramid of (B, T, C, h, w) feature maps, ``corr_levels`` levels."""
        levels = [maps]
        for _ in range(self.arch.corr_levels - 1):
            flat = F.avg_pool2d(levels[-1].flatten(0, 1), 2, stride=2)
            levels.append(flat.view(*maps.shape[:3], *flat.shape[-2:]))
        return levels

    def query_features(self, levels: list[torch.Tensor], frames: torch.Tensor, xy: torch.Tensor) -> list[torch.Tensor]:
        """Window features around each query, per level: (B, N, K*K, C).

        levels: pyramid of the frames that hold the queries; frames (B, N) long indices into them;
        xy (B, N, 2) query positions in feature-grid units.
        """
        offsets = _window_offsets(self.arch.corr_radius, xy.device)
        batch, n_points = frames.shape
        n_frames = levels[0].shape[1]
        flat_frames = (frames + torch.arange(batch, device=frames.device)[:, None] * n_frames).flatten()
        flat_xy = xy.reshape(-1, 2)
        groups = [(index, torch.nonzero(flat_frames == index).flatten()) for index in torch.unique(flat_frames).tolist()]
        out = []
        for i, maps in enumerate(levels):
            flat_maps = maps.flatten(0, 1)
            feats = flat_maps.new_empty(batch * n_points, offsets.shape[0], flat_maps.shape[1])
            for index, members in groups:  # one sampling call per (video, query frame)
                points = (flat_xy[members] / 2**i)[None, :, None] + offsets[None, None]
                feats[members] = _sample_maps(flat_maps[index : index + 1], points)[0]
            out.append(feats.view(batch, n_points, offsets.shape[0], -1))
        return out

    def correlation_tokens(self, levels: list[torch.Tensor], coords: torch.Tensor, support: list[torch.Tensor]) -> torch.Tensor:
        """4-D correlation of each query's window with the window around its current position -> (B, T, N, 1024)."""
        batch, n_frames, n_points, _ = coords.shape
        offsets = _window_offsets(self.arch.corr_radius, coords.device)
        embeddings = []
        for i, (maps, feats) in enumerate(zip(levels, support)):
            points = (coords.reshape(batch * n_frames, n_points, 1, 2) / 2**i) + offsets[None, None]
            around = _sample_maps(maps.flatten(0, 1), points).view(batch, n_frames, n_points, offsets.shape[0], -1)
            corr = torch.matmul(around, feats.transpose(-1, -2)[:, None])  # (B, T, N, K*K, K*K)
            embeddings.append(self.corr_mlp(corr.flatten(-2)))
        return torch.cat(embeddings, dim=-1)

    def time_embedding(self, n_frames: int, dtype: torch.dtype) -> torch.Tensor:
        table = self.time_emb
        if n_frames != table.shape[1]:
            table = F.interpolate(table.float().transpose(1, 2), size=n_frames, mode="linear").transpose(1, 2)
        return table.to(dtype)

    # --- iterative refinement --------------------------------------------------------------

    def refine(
        self,
        levels: list[torch.Tensor],
        support: list[torch.Tensor],
        coords: torch.Tensor,
        vis: torch.Tensor,
        conf: torch.Tensor,
        iters: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run ``iters`` updates on one window. coords (B, S, N, 2) in feature units; vis/conf logits (B, S, N)."""
        batch, n_frames, n_points, _ = coords.shape
        model_h, model_w = self.arch.model_resolution
        motion_scale = coords.new_tensor([model_w / self.arch.stride, model_h / self.arch.stride])
        time_emb = self.time_embedding(n_frames, coords.dtype)
        for _ in range(iters):
            coords = coords.detach()
            corr = self.correlation_tokens(levels, coords, support)
            forward = F.pad(coords[:, :-1] - coords[:, 1:], (0, 0, 0, 0, 0, 1))
            backward = F.pad(coords[:, 1:] - coords[:, :-1], (0, 0, 0, 0, 1, 0))
            motion = motion_encoding(torch.cat([forward, backward], dim=-1) / motion_scale.repeat(2))
            tokens = torch.cat([vis[..., None], conf[..., None], corr.to(vis.dtype), motion], dim=-1)
            tokens = tokens.transpose(1, 2) + time_emb[:, None]
            delta = self.updateformer(tokens).transpose(1, 2)
            coords = coords + delta[..., :2].to(coords.dtype)
            vis = vis + delta[..., 2].to(vis.dtype)
            conf = conf + delta[..., 3].to(conf.dtype)
        return coords, vis, conf

    # --- full video ------------------------------------------------------------------------

    def forward(self, video: torch.Tensor, queries: torch.Tensor, iters: int = 4) -> tuple[torch.Tensor, ...]:
        """video (B, T, 3, H, W) in [0, 255] at any size divisible by the stride; queries (B, N, 3) (t, x, y) in
        pixels of that video. Returns coords (B, T, N, 2) pixels, visibility logits and confidence logits (B, T, N)."""
        height, width = video.shape[-2:]
        if height % self.arch.stride or width % self.arch.stride:
            raise ValueError(f"video size {width}x{height} is not divisible by the stride {self.arch.stride}")
        if self.online:
            return self._forward_sliding(video, queries, iters)
        return self._forward_offline(video, queries, iters)

    def _forward_offline(self, video: torch.Tensor, queries: torch.Tensor, iters: int) -> tuple[torch.Tensor, ...]:
        batch, n_frames = video.shape[:2]
        n_points = queries.shape[1]
        stride = self.arch.stride
        levels = self.pyramid(self.encode(video))
        frames = queries[..., 0].long()
        xy = queries[..., 1:3].float() / stride
        support = self.query_features(levels, frames, xy)
        coords = xy[:, None].expand(batch, n_frames, n_points, 2).contiguous()
        zeros = coords.new_zeros(batch, n_frames, n_points)
        coords, vis, conf = self.refine(levels, support, coords, zeros, zeros, iters)
        return coords * stride, vis, conf

    def _forward_sliding(self, video: torch.Tensor, queries: torch.Tensor, iters: int) -> tuple[torch.Tensor, ...]:
        """Windows of S frames every S/2 frames; features computed once per frame and kept for one window only."""
        batch, n_frames = video.shape[:2]
        n_points = queries.shape[1]
        size, step, stride = self.arch.window_len, self.arch.window_len // 2, self.arch.stride
        # at least one window: upstream's formula gives none for videos of at most half a window
        num_windows = max(1, (n_frames - size + step - 1) // step + 1)
        frames = queries[..., 0].long()
        xy = queries[..., 1:3].float() / stride
        out_coords = xy.new_zeros(batch, n_frames, n_points, 2)
        out_vis = xy.new_zeros(batch, n_frames, n_points)
        out_conf = xy.new_zeros(batch, n_frames, n_points)
        support: list[torch.Tensor] | None = None
        window_maps: torch.Tensor | None = None
        for w in range(num_windows):
            start = w * step
            # features of frames [start, start + S); the video is padded with its last frame
            first_new = 0 if window_maps is None else size - step
            new_idx = torch.clamp(torch.arange(start + first_new, start + size, device=video.device), max=n_frames - 1)
            unique_idx, inverse = torch.unique(new_idx, return_inverse=True)  # padding repeats the last frame
            new_maps = self.encode(video[:, unique_idx])[:, inverse]
            window_maps = new_maps if window_maps is None else torch.cat([window_maps[:, step:], new_maps], dim=1)
            levels = self.pyramid(window_maps)
            # support features of queries whose frame enters the window for the first time
            in_window = (frames >= start + first_new) & (frames < start + size)
            local = torch.clamp(frames - start, 0, size - 1)
            window_support = self.query_features(levels, local, xy)
            if support is None:
                support = [s * in_window[..., None, None] for s in window_support]
            else:
                support = [s + ws * in_window[..., None, None] for s, ws in zip(support, window_support)]
            reached = (frames < start + size)[..., None, None]
            masked_support = [s * reached for s in support]
            coords = xy[:, None].expand(batch, size, n_points, 2).contiguous()
            vis = coords.new_zeros(batch, size, n_points)
            conf = coords.new_zeros(batch, size, n_points)
            if start > 0:
                overlap = size - step
                carry = (frames < start + overlap)[:, None, :]
                prev = slice(start, start + overlap)
                held = list(range(overlap)) + [overlap - 1] * step  # previous predictions, last one held
                coords = torch.where(carry[..., None], (out_coords[:, prev] / stride)[:, held], coords)
                vis = torch.where(carry, out_vis[:, prev][:, held], vis)
                conf = torch.where(carry, out_conf[:, prev][:, held], conf)
            coords, vis, conf = self.refine(levels, masked_support, coords, vis, conf, iters)
            kept = min(n_frames - start, size)
            out_coords[:, start : start + kept] = coords[:, :kept] * stride
            out_vis[:, start : start + kept] = vis[:, :kept]
            out_conf[:, start : start + kept] = conf[:, :kept]
        return out_coords, out_vis, out_conf
