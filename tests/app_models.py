"""Adapters that misbehave, for the app's tests (importable by the app's server process: tests/ on PYTHONPATH)."""

from __future__ import annotations

import numpy as np


def raising(image, trajectories, num_frames, fps):
    """A model that always fails."""
    raise RuntimeError("this model always fails")


def short(image, trajectories, num_frames, fps):
    """A model that returns one frame too few."""
    return np.zeros((num_frames - 1,) + np.asarray(image).shape, np.uint8)
