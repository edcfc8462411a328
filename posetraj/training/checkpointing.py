"""Block-level gradient checkpointing for the ControlNet and the frozen UNet.

diffusers' own checkpointing (``enable_gradient_checkpointing``) wraps only the resnets and the spatial
transformer blocks; the temporal transformers, the time mixers and the resamplers keep their activations.
Wrapping every whole down / mid / up block as well (non-reentrant ``torch.utils.checkpoint``) keeps only each
block's inputs: with both nested, the reference notes (``svd_controlnet_diffusers.md`` §9, simulated, not
measured on a GPU) estimate a training step at 14x320x576 at 16.9 GiB instead of 23.7 GiB, and SVD-XT's
native 25x576x1024 at 36.6 GiB instead of 80.0 GiB. Results are unchanged (tested).

The UNet's residual hooks (``models/unet.py``) act on the blocks' calls, outside the wrapped ``forward``, so
the recomputation sees the same inputs.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


def _wrap(block: nn.Module) -> None:
    forward = block.forward

    def checkpointed(*args, **kwargs):
        if torch.is_grad_enabled():
            return checkpoint(forward, *args, use_reentrant=False, **kwargs)
        return forward(*args, **kwargs)

    block.forward = checkpointed


def checkpoint_blocks(model: nn.Module) -> int:
    """Wrap every down, mid and up block of ``model`` (a ControlNet or SVD UNet); returns how many."""
    blocks = [*getattr(model, "down_blocks", []), *getattr(model, "up_blocks", [])]
    if getattr(model, "mid_block", None) is not None:
        blocks.append(model.mid_block)
    for block in blocks:
        _wrap(block)
    return len(blocks)
