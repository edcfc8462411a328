"""SVD's added time ids, built by one function for training and inference.

SVD embeds three micro-conditioning values in this order: ``[fps, motion_bucket_id,
noise_aug_strength]``. The value embedded is ``fps`` itself, as in the original PoseTraj (which trained
with 6); diffusers' stock SVD pipeline subtracts one from its ``fps`` argument, so our ``fps=6`` equals
its ``fps=7``. The original PoseTraj training built ``[fps, noise_aug, motion]`` while its inference used
``[fps, motion, noise_aug]``; here both paths call ``added_time_ids``.
"""

from __future__ import annotations

import torch


def added_time_ids(
    fps: float, motion_bucket_id: float, noise_aug_strength: float, batch_size: int,
    dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu",
) -> torch.Tensor:
    """(batch_size, 3) tensor ``[fps, motion_bucket_id, noise_aug_strength]`` per sample."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    row = torch.tensor([[float(fps), float(motion_bucket_id), float(noise_aug_strength)]], dtype=dtype, device=device)
    return row.repeat(batch_size, 1)
