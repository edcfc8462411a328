"""Loading the official CoTracker3 checkpoints (``scaled_offline.pth`` / ``scaled_online.pth``).

Files are read with ``torch.load(weights_only=True)`` and loaded with ``strict=True``. Every failure names
the file and the mismatch: unreadable or truncated files, the wrong variant (told apart by the length of the
``time_emb`` buffer: 60 frames offline, 16 online), CoTracker2 files, missing / unexpected keys, shapes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from benchmark.trackers.cotracker3.model import OFFLINE_WINDOW, ONLINE_WINDOW, CoTracker3

VARIANT_BY_WINDOW = {OFFLINE_WINDOW: "cotracker3-offline", ONLINE_WINDOW: "cotracker3-online"}


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used for the requested model."""


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The raw tensors of a checkpoint (a ``{"model": ...}`` wrapper is unwrapped)."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for truncated / foreign files
        raise CheckpointError(
            f"checkpoint {path} could not be read ({path.stat().st_size} bytes; truncated or not a torch "
            f"state_dict): {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        ) from error
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint {path} is not a state_dict of tensors")
    return state


def variant_of(state: dict[str, torch.Tensor]) -> str:
    """Which model a state_dict belongs to, from its keys and the ``time_emb`` length."""
    if "pos_emb" in state or "vis_predictor.0.weight" in state:
        return "cotracker2"
    time_emb = state.get("time_emb")
    if time_emb is None or time_emb.ndim != 3:
        return "unknown (no time_emb buffer)"
    return VARIANT_BY_WINDOW.get(int(time_emb.shape[1]), f"unknown (time_emb length {time_emb.shape[1]})")


def load_weights(model: CoTracker3, path: Path, expected_variant: str) -> None:
    """Load ``path`` into ``model`` with strict key matching, after checking the variant."""
    state = read_state_dict(path)
    found = variant_of(state)
    if found != expected_variant:
        found_len = state["time_emb"].shape[1] if "time_emb" in state and state["time_emb"].ndim == 3 else "n/a"
        raise CheckpointError(
            f"checkpoint {path} is {found} (time_emb length {found_len}), expected {expected_variant} "
            f"({model.time_emb.shape[1]})"
        )
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {path} does not match {expected_variant}: {len(missing)} missing keys "
            f"{missing[:3]}, {len(unexpected)} unexpected keys {unexpected[:3]}"
        )
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(own[key].shape):
            raise CheckpointError(
                f"checkpoint {path}: {key} has shape {tuple(tensor.shape)}, expected {tuple(own[key].shape)}"
            )
    model.load_state_dict(state, strict=True)


def deterministic_state_dict(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Fill every state_dict tensor from a generator seeded by sha256(f"{seed}:{key}").

    The output heads' weights (``flow_head``, ``vis_conf_head``) get N(0, 0.001^2) (as the upstream
    initialisation, so that the updates stay small); other weights with >= 2 dims N(0, 1/fan_in);
    LayerNorm weights 1 + N(0, 0.1^2); everything else (biases, ``virual_tracks``, ``time_emb``) N(0, 0.1^2). Used for parity fixtures and benchmarks with
    random weights (same FLOPs as the real ones).
    """
    out = {}
    for key, tensor in model.state_dict().items():
        key_seed = int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "little") >> 1
        generator = torch.Generator().manual_seed(key_seed)
        values = torch.randn(tuple(tensor.shape), generator=generator, dtype=torch.float64)
        if key.endswith("_head.weight"):
            values = 0.001 * values
        elif key.endswith(".weight") and tensor.ndim >= 2:
            values = values / max(tensor[0].numel(), 1) ** 0.5
        elif "norm" in key and key.endswith(".weight"):
            values = 1.0 + 0.1 * values
        else:
            values = 0.1 * values
        out[key] = values.to(tensor.dtype)
    return out
