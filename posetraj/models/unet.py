"""Feed ControlNet residuals into the stock diffusers SVD UNet without copying its code.

diffusers' ``UNetSpatioTemporalConditionModel.forward`` takes no residual arguments. Rather than
subclassing it with a copy of its forward (which must be re-synced on every diffusers upgrade and
can silently diverge), ``ResidualUNet`` registers forward hooks on the stock modules:

* a pre-hook on every up block adds the matching residuals to its ``res_hidden_states_tuple``
  keyword (the skips it consumes, taken from the end of the skip list, conv_in output first);
* a hook on the mid block adds the mid residual to its output.

The hooks are inert unless a call passes residuals, so the wrapped UNet stays the stock model: it
saves and loads as SVD's own ``unet/`` folder. If a future diffusers stops passing the keyword, the
pre-hook raises ``KeyError`` instead of silently ignoring the residuals (tests cover the equality).

Injection modes:

* ``"once"`` (default, correct): every skip gets its residual added once.
* ``"accumulate"``: the original PoseTraj UNet added the residual loop *inside* the down-block
  loop, so after each down block every skip collected so far got its residual again. Skip ``j``
  (j = 0 for conv_in) receives its residual ``D - b(j)`` times, b(j) = the down block that
  produced it (conv_in counts as block 0), D = number of down blocks: x4/x3/x2/x1 for SVD's four
  blocks. The residual is added that many times in sequence, matching the original's arithmetic.
  The mid residual is added once in both modes; only the skips differ.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from diffusers.models.unets.unet_spatio_temporal_condition import UNetSpatioTemporalConditionModel
from torch import nn


def skip_multiplicities(unet: UNetSpatioTemporalConditionModel, mode: str) -> list[int]:
    """How many times each skip's residual is added, conv_in first (all 1 for ``"once"``)."""
    counts = [1]  # conv_in output: produced before down block 0
    blocks = len(unet.down_blocks)
    owners = [0]
    for index, block in enumerate(unet.down_blocks):
        produced = len(block.resnets) + (len(block.downsamplers) if getattr(block, "downsamplers", None) else 0)
        owners += [index] * produced
        counts += [1] * produced
    if mode == "once":
        return counts
    if mode == "accumulate":
        return [blocks - owner for owner in owners]
    raise ValueError(f"unknown residual injection mode {mode!r}; use 'once' or 'accumulate'")


class ResidualUNet(nn.Module):
    """Wraps a stock SVD UNet; ``forward`` accepts ControlNet residuals (see module docstring)."""

    def __init__(self, unet: UNetSpatioTemporalConditionModel) -> None:
        super().__init__()
        self.unet = unet
        self._down: tuple[torch.Tensor, ...] | None = None
        self._mid: torch.Tensor | None = None
        self._counts: list[int] = []
        self._handles = [unet.mid_block.register_forward_hook(self._mid_hook)]
        for index, block in enumerate(unet.up_blocks):
            self._handles.append(block.register_forward_pre_hook(self._make_up_hook(index), with_kwargs=True))

    def _mid_hook(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor | None:
        if self._mid is None:
            return None
        return output + self._mid

    def _make_up_hook(self, index: int):
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
            if self._down is None:
                return None
            skips = kwargs["res_hidden_states_tuple"]
            consumed_before = sum(len(b.resnets) for b in self.unet.up_blocks[:index])
            stop = len(self._down) - consumed_before
            start = stop - len(skips)
            updated = []
            for skip, residual, count in zip(skips, self._down[start:stop], self._counts[start:stop], strict=True):
                for _ in range(count):
                    skip = skip + residual
                updated.append(skip)
            kwargs["res_hidden_states_tuple"] = tuple(updated)
            return args, kwargs

        return hook

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float,
        encoder_hidden_states: torch.Tensor,
        added_time_ids: torch.Tensor,
        down_block_additional_residuals: Sequence[torch.Tensor] | None = None,
        mid_block_additional_residual: torch.Tensor | None = None,
        injection: str = "once",
    ) -> torch.Tensor:
        """The UNet output (B, F, 4, h, w); residuals as returned by ``TrajControlNetModel``."""
        if (down_block_additional_residuals is None) != (mid_block_additional_residual is None):
            raise ValueError("pass both down and mid residuals, or neither")
        if down_block_additional_residuals is not None:
            counts = skip_multiplicities(self.unet, injection)
            if len(down_block_additional_residuals) != len(counts):
                raise ValueError(
                    f"the UNet has {len(counts)} skips but {len(down_block_additional_residuals)} residuals were given"
                )
            self._down = tuple(down_block_additional_residuals)
            self._mid = mid_block_additional_residual
            self._counts = counts
        try:
            return self.unet(
                sample, timestep, encoder_hidden_states=encoder_hidden_states,
                added_time_ids=added_time_ids, return_dict=False,
            )[0]
        finally:
            self._down = None
            self._mid = None

    def remove_hooks(self) -> None:
        """Detach the hooks from the UNet (the wrapper must not be used afterwards)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
