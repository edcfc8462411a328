"""Fit frames of any size to the training size, and move trajectories with them.

Three modes: ``crop`` (scale so the frame covers the target, keep the aspect, centre crop), ``pad`` (scale so
the frame fits inside, keep the aspect, centre on black) and ``stretch`` (scale each axis on its own, the
original PoseTraj's 720x480 -> 576x320). Frames are resized with area averaging when they shrink along
both axes (no aliasing of thin lines such as stage-1 box edges) and bilinearly otherwise. Trajectories follow the shared resize
rule of ``common.trajectories.rescale`` (pixel centres at integer coordinates) plus the crop or pad offset,
so a point stays on the same image content.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from common.trajectories import Trajectories, rescale


@dataclass(frozen=True)
class Fit:
    """Source size -> (scaled size, offset of the scaled image in the target, target size), all (w, h)."""

    source: tuple[int, int]
    scaled: tuple[int, int]
    offset: tuple[int, int]
    target: tuple[int, int]

    @classmethod
    def make(cls, source: tuple[int, int], target: tuple[int, int], mode: str) -> "Fit":
        (sw, sh), (tw, th) = source, target
        if mode == "stretch":
            return cls(source, target, (0, 0), target)
        if mode not in ("crop", "pad"):
            raise ValueError(f"resize mode must be crop, pad or stretch, got {mode!r}")
        scale = (max if mode == "crop" else min)(tw / sw, th / sh)
        scaled = (max(int(round(sw * scale)), 1), max(int(round(sh * scale)), 1))
        if mode == "crop":  # the rounding can leave the scaled image a pixel short of the target
            scaled = (max(scaled[0], tw), max(scaled[1], th))
        else:
            scaled = (min(scaled[0], tw), min(scaled[1], th))
        return cls(source, scaled, ((tw - scaled[0]) // 2, (th - scaled[1]) // 2), target)

    def frames(self, frames: np.ndarray) -> np.ndarray:
        """(T, h, w, 3) uint8 at ``source`` size -> (T, H, W, 3) uint8 at ``target`` size."""
        import cv2

        if frames.shape[2:0:-1] != self.source:
            raise ValueError(f"frames are {frames.shape[2]}x{frames.shape[1]}, expected {self.source}")
        shrink = self.scaled[0] <= self.source[0] and self.scaled[1] <= self.source[1]
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        resized = np.stack([cv2.resize(f, self.scaled, interpolation=interpolation) for f in frames]) \
            if self.scaled != self.source else frames
        (tw, th), (ox, oy), (w, h) = self.target, self.offset, self.scaled
        out = np.zeros((frames.shape[0], th, tw, 3), np.uint8)
        # crop (negative offset) or pad (positive offset)
        src_x, dst_x, n_x = max(-ox, 0), max(ox, 0), min(w, tw)
        src_y, dst_y, n_y = max(-oy, 0), max(oy, 0), min(h, th)
        out[:, dst_y:dst_y + n_y, dst_x:dst_x + n_x] = resized[:, src_y:src_y + n_y, src_x:src_x + n_x]
        return out

    def trajectories(self, traj: Trajectories) -> Trajectories:
        """Trajectories in the source image -> the same content's positions in the target image."""
        if traj.size != self.source:
            raise ValueError(f"trajectories refer to a {traj.size} image, expected {self.source}")
        scaled = rescale(traj, self.scaled)
        return replace(scaled, points=scaled.points + np.asarray(self.offset, dtype=np.float64), size=self.target)
