"""Checkpoints (schema version 1), resume, and the exponential moving average of the ControlNet.

A checkpoint is a folder ``<output_dir>/checkpoints/checkpoint-<step>/``, written to a temporary sibling and
renamed into place after its ``DONE`` marker (written last):

```
controlnet/                   the live ControlNet (save_pretrained: config.json + safetensors)
ema.safetensors               EMA weights (when train.ema)
optimizer.pt, scheduler.pt    optimiser / LR-schedule state dicts (torch.save; read with weights_only=True)
grad_scaler.pt                the fp16 gradient scaler's state (fp16 only)
trainer_state.json            step, data position, malformed-sample log, schema version
rng/rank-<r>.json             Python, NumPy and torch (CPU, CUDA) RNG states of every process
DONE                          {"schema_version": 1, "step": N}
```

Resume restores all of it: weights, optimiser, LR schedule, EMA, data position and RNG state. Nothing is
unpickled: tensors come from safetensors or ``torch.load(weights_only=True)``, the rest is JSON. Only the
newest ``keep`` complete checkpoints are kept.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from common.atomic import write_json_atomic

CHECKPOINT_SCHEMA_VERSION = 1
MARKER = "DONE"


class CheckpointError(ValueError):
    """A checkpoint folder cannot be resumed from (the message names it)."""


class EMA:
    """Exponential moving average of a model's trainable parameters (fp32 shadow copies).

    The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after n updates, so early averages are not
    dominated by the random initialisation."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.shadow = {n: p.detach().float().clone() for n, p in model.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for name, param in model.named_parameters():
            if name in self.shadow:
                self.shadow[name].lerp_(param.detach().float(), 1.0 - decay)

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> None:
        """Write the averaged weights into ``model``."""
        for name, param in model.named_parameters():
            if name in self.shadow:
                param.copy_(self.shadow[name].to(param.dtype))

    def save(self, path: Path) -> None:
        from safetensors.torch import save_file

        save_file({k: v.contiguous().cpu() for k, v in self.shadow.items()}, str(path),
                  metadata={"updates": str(self.updates), "decay": str(self.decay)})

    def load(self, path: Path) -> None:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            keys = set(handle.keys())
            if keys != set(self.shadow):
                raise CheckpointError(f"{path}: EMA tensors do not match the model ({len(keys ^ set(self.shadow))} differ)")
            for key in keys:
                self.shadow[key] = handle.get_tensor(key).to(self.shadow[key].device)
            self.updates = int(handle.metadata()["updates"])


def rng_state() -> dict:
    """This process's Python, NumPy and torch RNG states as JSON-able data."""
    np_state = np.random.get_state()
    state = {"python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
             "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
             "torch": torch.get_rng_state().tolist()}
    if torch.cuda.is_available():
        state["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])


def checkpoint_dir(root: Path, step: int) -> Path:
    return Path(root) / f"checkpoint-{step:08d}"


def complete_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("checkpoint-*") if p.is_dir() and (p / MARKER).is_file())


def save_checkpoint(root: Path, step: int, accelerator, controlnet, optimizer, scheduler, ema: EMA | None,
                    state: dict, keep: int) -> Path:
    """Write checkpoint ``step`` (every process calls this; see the module docstring)."""
    final = checkpoint_dir(root, step)
    tmp = final.with_name(f".{final.name}.tmp")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "rng").mkdir(parents=True)
    accelerator.wait_for_everyone()
    write_json_atomic(tmp / "rng" / f"rank-{accelerator.process_index}.json", rng_state())
    if accelerator.is_main_process:
        accelerator.unwrap_model(controlnet).save_pretrained(tmp / "controlnet", safe_serialization=True)
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        if accelerator.scaler is not None:
            torch.save(accelerator.scaler.state_dict(), tmp / "grad_scaler.pt")
        if ema is not None:
            ema.save(tmp / "ema.safetensors")
        write_json_atomic(tmp / "trainer_state.json",
                          {"schema_version": CHECKPOINT_SCHEMA_VERSION, "step": step, **state})
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json_atomic(tmp / MARKER, {"schema_version": CHECKPOINT_SCHEMA_VERSION, "step": step})
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        for old in complete_checkpoints(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def read_trainer_state(path: Path) -> dict:
    """The ``trainer_state.json`` of a complete checkpoint, schema-checked."""
    path = Path(path)
    if not (path / MARKER).is_file():
        raise CheckpointError(f"{path}: not a complete checkpoint (no {MARKER} marker)")
    state = json.loads((path / "trainer_state.json").read_text())
    if state.get("schema_version") != CHECKPOINT_SCHEMA_VERSION:
        raise CheckpointError(f"{path}: checkpoint schema version {state.get('schema_version')!r} is not supported "
                              f"(this trainer knows {CHECKPOINT_SCHEMA_VERSION})")
    return state


def load_checkpoint(path: Path, accelerator, controlnet, optimizer, scheduler, ema: EMA | None) -> dict:
    """Restore a checkpoint into the live objects; returns its trainer state."""
    from posetraj.models.controlnet import TrajControlNetModel

    path = Path(path)
    state = read_trainer_state(path)
    saved = TrajControlNetModel.from_pretrained(path / "controlnet")
    model = accelerator.unwrap_model(controlnet)
    missing = model.load_state_dict(saved.state_dict(), strict=False)
    if missing.missing_keys or missing.unexpected_keys:
        raise CheckpointError(f"{path}: the checkpoint's ControlNet does not match the configured one "
                              f"(missing {missing.missing_keys[:3]}, unexpected {missing.unexpected_keys[:3]})")
    device = accelerator.device
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location=device, weights_only=True))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    if accelerator.scaler is not None and (path / "grad_scaler.pt").is_file():
        accelerator.scaler.load_state_dict(torch.load(path / "grad_scaler.pt", weights_only=True))
    if ema is not None:
        if not (path / "ema.safetensors").is_file():
            raise CheckpointError(f"{path}: train.ema is on but the checkpoint has no EMA weights")
        ema.load(path / "ema.safetensors")
    rng_file = path / "rng" / f"rank-{accelerator.process_index}.json"
    if rng_file.is_file():
        set_rng_state(json.loads(rng_file.read_text()))
    return state
