"""Point trackers behind one interface, selected by name (see docs/trackers.md).

``create_tracker(name, config=None, **overrides)`` builds a tracker from its config dataclass; the
benchmark never imports a concrete tracker module. Importing this package is light: torch and OpenCV
are imported only when a tracker that needs them is built or run.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import replace
from typing import Any

from benchmark.trackers.base import TrackerConfig, Tracker, TrackResult

__all__ = [
    "CHECKPOINT_ENV",
    "TRACKER_NAMES",
    "TrackResult",
    "Tracker",
    "TrackerConfig",
    "config_class",
    "configured_checkpoint",
    "create_tracker",
    "default_tracker_name",
]

# name -> (module, config class, tracker class, extra constructor arguments)
_REGISTRY: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "cotracker3-offline": ("benchmark.trackers.cotracker3.tracker", "CoTracker3Config", "CoTracker3Tracker", {"online": False}),
    "cotracker3-online": ("benchmark.trackers.cotracker3.tracker", "CoTracker3Config", "CoTracker3Tracker", {"online": True}),
    "lk": ("benchmark.trackers.lk", "LKConfig", "LKTracker", {}),
    "oracle": ("benchmark.trackers.oracle", "OracleConfig", "OracleTracker", {}),
}
TRACKER_NAMES: tuple[str, ...] = tuple(_REGISTRY)

# environment variables naming the official checkpoint files
CHECKPOINT_ENV = {
    "cotracker3-offline": "POSETRAJ_COTRACKER3_CHECKPOINT",
    "cotracker3-online": "POSETRAJ_COTRACKER3_ONLINE_CHECKPOINT",
}


def _entry(name: str) -> tuple[str, str, str, dict[str, Any]]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown tracker {name!r}; known: {', '.join(TRACKER_NAMES)}")
    return _REGISTRY[name]


def config_class(name: str) -> type[TrackerConfig]:
    """The config dataclass of a tracker (imports that tracker's module)."""
    module, config_name, _, _ = _entry(name)
    return getattr(importlib.import_module(module), config_name)


def configured_checkpoint(name: str) -> str | None:
    """The checkpoint path given by the tracker's environment variable, if any."""
    variable = CHECKPOINT_ENV.get(name)
    value = os.environ.get(variable, "").strip() if variable else ""
    return value or None


def create_tracker(name: str, config: TrackerConfig | None = None, **overrides: Any) -> Tracker:
    """Build tracker ``name`` from ``config`` (its config dataclass) and/or keyword overrides.

    CoTracker3 trackers read their checkpoint from the config, else from ``CHECKPOINT_ENV[name]``.
    """
    module_name, config_name, class_name, extra = _entry(name)
    module = importlib.import_module(module_name)
    config_type = getattr(module, config_name)
    if config is None:
        config = config_type(**overrides)
    else:
        if not isinstance(config, config_type):
            raise TypeError(f"tracker {name!r} takes a {config_name}, got {type(config).__name__}")
        config = replace(config, **overrides) if overrides else config
    if name in CHECKPOINT_ENV and getattr(config, "checkpoint") is None and getattr(config, "random_seed") is None:
        checkpoint = configured_checkpoint(name)
        if checkpoint is None:
            raise ValueError(
                f"{name} needs a checkpoint: pass checkpoint=<path to the official .pth> or set {CHECKPOINT_ENV[name]}"
            )
        config = replace(config, checkpoint=checkpoint)
    return getattr(module, class_name)(config=config, **extra)


def default_tracker_name(checkpoint: str | None = None) -> str:
    """``cotracker3-offline`` when a checkpoint is given or configured in the environment, else ``lk``."""
    return "cotracker3-offline" if checkpoint or configured_checkpoint("cotracker3-offline") else "lk"
