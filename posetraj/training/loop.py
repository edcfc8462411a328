"""The training loop: one code path for the three stages, on one GPU, many GPUs or many nodes (accelerate).

Frozen: the SVD UNet and CLIP image encoder in the mixed-precision dtype, the VAE in float32; trainable: the
whole ControlNet in float32 (AdamW), under autocast. Only the ControlNet is wrapped for data parallelism
(the frozen UNet is not, unlike the original, whose DDP wrapping of it fails on more than one GPU).
Gradient accumulation is explicit (``no_sync`` on all but the last micro-step), gradients are clipped to
``optim.max_grad_norm`` (the original's clipping never ran), the LR schedule steps once per optimiser step
whatever the number of processes.

Outputs in ``output_dir``: ``config.yaml`` (the resolved config), ``checkpoints/`` (``checkpoints.py``),
``logs/`` (TensorBoard: losses, learning rate, gradient norm, throughput, validation metrics),
``metrics.jsonl`` (the same as JSON lines), ``validation/``, ``controlnet/`` (the trained ControlNet, EMA
weights when ``train.ema``; ``controlnet_live/`` then holds the raw weights) and ``train_summary.json``.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from common.atomic import write_json_atomic, write_text_atomic
from posetraj.training.config import ModelConfig, ObjectiveConfig, TrainConfig, config_to_yaml

DTYPES = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class TrainingError(RuntimeError):
    """The run cannot start or continue (the message says why and what to do)."""


@dataclass
class FrozenModels:
    """The frozen SVD components (a ``StableVideoDiffusionPipeline``'s, without the pipeline)."""

    vae: torch.nn.Module
    image_encoder: torch.nn.Module
    unet: torch.nn.Module
    scheduler: object
    feature_extractor: object

    @classmethod
    def load(cls, config: ModelConfig, weight_dtype: torch.dtype) -> "FrozenModels":
        from diffusers import StableVideoDiffusionPipeline

        svd = Path(config.svd)
        if not (svd / "model_index.json").is_file():
            raise TrainingError(f"model.svd: {svd} is not a diffusers SVD folder (no model_index.json)")
        pipe = StableVideoDiffusionPipeline.from_pretrained(svd, dtype=weight_dtype, variant=config.variant)
        return cls(pipe.vae, pipe.image_encoder, pipe.unet, pipe.scheduler, pipe.feature_extractor)

    def prepare(self, device, weight_dtype: torch.dtype, gradient_checkpointing: bool) -> None:
        """Frozen, on ``device``; VAE in float32 (SVD's VAE must be upcast), UNet and CLIP in ``weight_dtype``."""
        for module, dtype in ((self.vae, torch.float32), (self.image_encoder, weight_dtype), (self.unet, weight_dtype)):
            module.requires_grad_(False).eval().to(device, dtype)
        if gradient_checkpointing:  # the UNet's decoder carries the ControlNet's gradients
            self.unet.enable_gradient_checkpointing()


def build_controlnet(config: ModelConfig, objective: ObjectiveConfig, unet) -> "torch.nn.Module":
    """The ControlNet to train: a fresh copy of the UNet's encoder, or a previous stage's output.

    Adding the camera module to a ControlNet without one keeps every other weight and initialises the
    module as an exact no-op, so the model's output is unchanged at step 0. The micro-conditioning of the
    objective is recorded in the config (``fps_id``, ``motion_bucket_id``, ``noise_aug_strength``)."""
    from posetraj.models.controlnet import TrajControlNetModel

    if config.init == "unet":
        controlnet = TrajControlNetModel.from_unet(
            unet, conditioning_encoding=config.conditioning_encoding, residual_injection=config.residual_injection,
            use_camera=config.use_camera, camera_dropout_prob=config.camera_dropout_prob)
    else:
        folder = Path(config.init)
        if not (folder / "config.json").is_file():
            raise TrainingError(f"model.init: {folder} is not a saved ControlNet (no config.json); give a previous "
                                f"stage's output folder (<output_dir>/controlnet) or 'unet'")
        previous = TrajControlNetModel.from_pretrained(folder)
        if previous.config.use_camera and not config.use_camera:
            raise TrainingError(f"model.init: {folder} has a camera module; set model.use_camera=true to keep it")
        if config.use_camera and not previous.config.use_camera:
            settings = {k: v for k, v in previous.config.items() if not k.startswith("_")}
            controlnet = TrajControlNetModel.from_config({**settings, "use_camera": True,
                                                          "camera_dropout_prob": config.camera_dropout_prob})
            result = controlnet.load_state_dict(previous.state_dict(), strict=False)
            if result.unexpected_keys or any("camera" not in k for k in result.missing_keys):
                raise TrainingError(f"model.init: {folder} does not fit the camera ControlNet ({result})")
        else:
            controlnet = previous
            if config.use_camera:
                controlnet.controlnet_cond_embedding.camera.dropout_prob = config.camera_dropout_prob
                controlnet.register_to_config(camera_dropout_prob=config.camera_dropout_prob)
    controlnet.register_to_config(fps_id=objective.fps_id, motion_bucket_id=objective.motion_bucket_id,
                                  noise_aug_strength=objective.noise_aug_strength)
    return controlnet.float().requires_grad_(True).train()


@dataclass
class TrainState:
    """What a checkpoint records besides the weights: progress and the malformed-sample log."""

    step: int = 0
    position: int = 0  # global samples consumed (all processes)
    skips: dict = field(default_factory=lambda: {"reasons": {}, "events": 0})
    elapsed_s: float = 0.0


def _scheduler(optimizer, config: TrainConfig):
    from diffusers.optimization import get_scheduler

    return get_scheduler(config.optim.lr_scheduler, optimizer, num_warmup_steps=config.optim.warmup_steps,
                         num_training_steps=max(config.train.max_steps, 1))


def _resume_point(config: TrainConfig, checkpoints: Path) -> Path | None:
    from posetraj.training.checkpoints import complete_checkpoints

    resume = config.train.resume
    existing = complete_checkpoints(checkpoints)
    if resume == "auto":
        return existing[-1] if existing else None
    if resume == "none":
        if existing:
            raise TrainingError(f"{config.output_dir} already has checkpoints ({existing[-1].name}); train.resume=auto "
                                f"continues them, or choose a new output_dir")
        return None
    path = Path(resume)
    if not path.is_dir():
        raise TrainingError(f"train.resume: {path} is not a checkpoint folder")
    return path


class _Logger:
    """TensorBoard (when installed) and metrics.jsonl, main process only."""

    def __init__(self, out: Path, enabled: bool) -> None:
        self.enabled, self.path, self.writer = enabled, out / "metrics.jsonl", None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(log_dir=str(out / "logs"))
            except ImportError:
                print("[train] tensorboard is not installed: logging to metrics.jsonl only", file=sys.stderr)

    def log(self, step: int, values: dict) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as handle:
            handle.write(json.dumps({"step": step, **values}) + "\n")
        if self.writer is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and value is not None:
                    self.writer.add_scalar(key, value, step)
            self.writer.flush()

    def image(self, tag: str, step: int, image) -> None:
        if self.enabled and self.writer is not None and image is not None:
            self.writer.add_image(tag, image, step, dataformats="HWC")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass
class TrainResult:
    status: str  # completed | paused (train.session_steps) | interrupted (signal)
    step: int
    output_dir: Path
    controlnet: Path | None  # the trained ControlNet (when completed)
    summary: dict


def train(config: TrainConfig, *, progress: bool = True, frozen: FrozenModels | None = None,
          stop_requested=lambda: False) -> TrainResult:
    """Run (or resume) one training stage. ``frozen``: prebuilt SVD components (instead of ``model.svd``);
    ``stop_requested()``: polled after every optimiser step (signals); on True a checkpoint is written and
    the run ends with status ``interrupted``."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from posetraj.models.unet import ResidualUNet
    from posetraj.training.benchmark_split import check_disjoint
    from posetraj.training.checkpoints import EMA, load_checkpoint, save_checkpoint
    from posetraj.training.data import SkipLog, WindowDataset, WindowSampler, collate, item_rngs, scan_sources
    from posetraj.training.objective import SampleDraws, blank_value, edm_loss
    from posetraj.models.time_ids import added_time_ids
    from posetraj.training.step import FrozenEncoders, encode_batch, encoding_noise

    started = time.perf_counter()
    t, d, o = config.train, config.data, config.objective
    if t.num_threads:
        torch.set_num_threads(t.num_threads)
    try:
        # on a machine without CUDA, cpu=True is what makes accelerate join a torchrun / accelerate launch
        # group (gloo); otherwise each process would train alone
        accelerator = Accelerator(mixed_precision=t.mixed_precision, cpu=not torch.cuda.is_available())
    except ValueError as exc:
        raise TrainingError(f"train.mixed_precision={t.mixed_precision}: {exc}") from None
    main = accelerator.is_main_process
    world, rank, device = accelerator.num_processes, accelerator.process_index, accelerator.device
    out = Path(config.output_dir)
    checkpoints = out / "checkpoints"
    resume_from = _resume_point(config, checkpoints)

    # data first: a bad dataset fails before any model is loaded
    skips = SkipLog(verbose=main)
    sources = scan_sources(d, skips, needs_camera=config.model.use_camera)
    check_disjoint(sources, d.exclude_suites)

    weight_dtype = DTYPES[t.mixed_precision]
    if device.type == "cpu":
        # CPU autocast runs group_norm in float32, and its CPU kernel refuses lower-precision parameters beside
        # a float32 input: the frozen models keep float32 weights there (convolutions and matmuls still run
        # in bf16 under autocast)
        weight_dtype = torch.float32
    frozen = frozen or FrozenModels.load(config.model, weight_dtype)
    frozen.prepare(device, weight_dtype, t.gradient_checkpointing)
    set_seed(t.seed)  # the new layers' initialisation (the trajectory encoder's convs) depends on it
    controlnet = build_controlnet(config.model, o, frozen.unet).to(device)
    if t.gradient_checkpointing:
        controlnet.enable_gradient_checkpointing()
    if t.block_checkpointing:
        from posetraj.training.checkpointing import checkpoint_blocks

        checkpoint_blocks(controlnet)
        checkpoint_blocks(frozen.unet)
    encoding = controlnet.config.conditioning_encoding
    residual_unet = ResidualUNet(frozen.unet)
    encoders = FrozenEncoders.from_components(frozen.vae, frozen.image_encoder, frozen.feature_extractor)

    cache = None
    if d.cache_dir:
        from posetraj.training.latent_cache import LatentCache, build_cache, encoder_identity

        cache = LatentCache(d.cache_dir, encoder_identity(config.model.svd or "in-memory", d, o.noise_aug_strength))
        build_cache(cache, WindowDataset(sources, d, encoding, config.model.use_camera), encoders, device,
                    o.noise_aug_strength, skips, rank, world, progress and main)
        accelerator.wait_for_everyone()
    dataset = WindowDataset(sources, d, encoding, config.model.use_camera, cache)

    optimizer = torch.optim.AdamW(controlnet.parameters(), lr=config.optim.lr, betas=tuple(config.optim.betas),
                                  weight_decay=config.optim.weight_decay, eps=config.optim.eps)
    lr_scheduler = _scheduler(optimizer, config)
    controlnet, optimizer = accelerator.prepare(controlnet, optimizer)
    model = accelerator.unwrap_model(controlnet)
    ema = EMA(model, t.ema_decay) if t.ema else None

    state = TrainState()
    if resume_from is not None:
        saved = load_checkpoint(resume_from, accelerator, controlnet, optimizer, lr_scheduler, ema)
        state = TrainState(step=saved["step"], position=saved["position"], skips=saved["skips"],
                           elapsed_s=saved.get("elapsed_s", 0.0))
        skips.load_state_dict(state.skips)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        previous = out / "config.yaml"
        if resume_from is not None and previous.is_file():
            from posetraj.training.config import config_differences, load_config

            changed = [k for k in config_differences(load_config(previous), config) if k != "train.resume"]
            if changed:
                print(f"[train] resuming with changed settings: {', '.join(changed)}", file=sys.stderr)
        write_text_atomic(previous, config_to_yaml(config))
    logger = _Logger(out, main)
    validator = None
    if config.validation.suite and main:
        from posetraj.training.validation import Validator

        validator = Validator(config.validation, d, o, out, frozen)

    sampler = WindowSampler(len(dataset), t.batch_size, world, rank, t.seed, start=state.position)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=d.num_workers, collate_fn=collate,
                        pin_memory=device.type == "cuda", prefetch_factor=2 if d.num_workers else None)
    batches = iter(loader)
    blank = blank_value(encoding)
    accumulation = t.gradient_accumulation_steps
    first_step, status = state.step, "completed"
    bar = tqdm(total=t.max_steps, initial=state.step, desc=f"train {config.stage}", unit="step",
               disable=not (progress and main), file=sys.stderr, dynamic_ncols=True)
    window = {"loss": 0.0, "main": 0.0, "single": 0.0, "count": 0, "samples": 0, "tick": time.perf_counter()}
    last_logged: dict = {}

    def micro_step(batch) -> None:
        for name, reason in batch["skipped"]:
            skips.add(name, reason)
        seeds = [item_rngs(s) for s in batch["seed"]]
        encode_gens = [torch.Generator().manual_seed(s[1]) for s in seeds]
        objective_gens = [torch.Generator().manual_seed(s[2]) for s in seeds]
        conditioning = batch["conditioning"].to(device)
        camera = batch["camera"].to(device) if config.model.use_camera else None
        size = len(batch["seed"])
        if "pixels" in batch:
            video = batch["pixels"].to(device).permute(0, 1, 4, 2, 3).float() / 127.5 - 1.0
            encoded = encode_batch(None, video, conditioning, o.fps_id, o.motion_bucket_id, o.noise_aug_strength,
                                   encode_gens, camera, encoders)
            latents, image_latents, embeddings = encoded.latents, encoded.image_latents, encoded.image_embeddings
        else:
            mean, std = batch["latent_mean"].to(device), batch["latent_std"].to(device)
            _, noise = encoding_noise(encode_gens, (3, d.height, d.width), tuple(mean.shape[1:]))
            latents = (mean + std * noise.to(device)) * encoders.scaling_factor
            image_latents = batch["image_latent"].to(device)
            embeddings = batch["image_embedding"].to(device, frozen.image_encoder.dtype)[:, None]
        time_ids = added_time_ids(o.fps_id, o.motion_bucket_id, o.noise_aug_strength, size, embeddings.dtype, device)
        draws = SampleDraws.draw(objective_gens, tuple(latents.shape[1:]), o)
        with accelerator.autocast():
            loss = edm_loss(controlnet, residual_unet, latents, image_latents, embeddings, time_ids, conditioning,
                            draws, o, camera=camera, generators=objective_gens, blank_conditioning=blank)
        accelerator.backward(loss.total / accumulation)
        window["loss"] += float(loss.total.detach())
        window["main"] += float(loss.main.detach())
        window["single"] += float(loss.single_frame.detach()) if loss.single_frame is not None else 0.0
        window["count"] += 1
        window["samples"] += size * world

    def checkpoint() -> None:
        state.skips, state.elapsed_s = skips.state_dict(), state.elapsed_s + time.perf_counter() - started
        save_checkpoint(checkpoints, state.step, accelerator, controlnet, optimizer, lr_scheduler, ema,
                        {"position": state.position, "skips": state.skips, "elapsed_s": state.elapsed_s,
                         "world_size": world, "batch_size": t.batch_size, "stage": config.stage}, t.keep_checkpoints)

    def validate() -> None:
        if validator is not None:
            result = validator.run(state.step, model, accelerator.autocast)
            values = {f"validation/{k}": v for k, v in result.metrics.items() if v is not None}
            logger.log(state.step, {**values, "validation/failed": result.failed})
            logger.image("validation/frames", state.step, result.preview)
            last_logged.update(values)
        accelerator.wait_for_everyone()

    grad_norm = None
    try:
        while state.step < t.max_steps:
            for micro in range(accumulation):
                batch = next(batches)
                last = micro == accumulation - 1
                sync = contextlib.nullcontext() if last or world == 1 else accelerator.no_sync(controlnet)
                with sync:
                    micro_step(batch)
            if config.optim.max_grad_norm > 0:
                grad_norm = accelerator.clip_grad_norm_(controlnet.parameters(), config.optim.max_grad_norm)
            optimizer.step()
            if not optimizer.step_was_skipped:
                lr_scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if ema is not None:
                ema.update(model)
            state.step += 1
            state.position += accumulation * t.batch_size * world
            bar.update(1)
            if state.step % t.log_every == 0 or state.step == t.max_steps or state.step == first_step + 1:
                totals = accelerator.reduce(torch.tensor([window["loss"], window["main"], window["single"],
                                                          window["count"]], device=device), reduction="sum")
                count = max(float(totals[3]), 1.0)
                seconds = max(time.perf_counter() - window["tick"], 1e-9)
                values = {"train/loss": float(totals[0]) / count, "train/loss_main": float(totals[1]) / count,
                          "train/lr": lr_scheduler.get_last_lr()[0], "train/samples_per_s": window["samples"] / seconds,
                          "train/malformed_samples": len(skips.reasons)}
                if o.single_frame_loss_weight > 0:
                    values["train/loss_single_frame"] = float(totals[2]) / count
                if grad_norm is not None:
                    values["train/grad_norm"] = float(grad_norm)
                logger.log(state.step, values)
                last_logged.update(values)
                bar.set_postfix(loss=f"{values['train/loss']:.4f}", lr=f"{values['train/lr']:.2e}")
                window.update(loss=0.0, main=0.0, single=0.0, count=0, samples=0, tick=time.perf_counter())
            if state.step % t.checkpoint_every == 0:
                checkpoint()
            if state.step == 1 or state.step % config.validation.every == 0:
                validate()
            stop = torch.tensor([1.0 if stop_requested() else 0.0], device=device)
            if world > 1:
                stop = accelerator.reduce(stop, reduction="sum")
            if float(stop) > 0:
                status = "interrupted"
                break
            if t.session_steps and state.step - first_step >= t.session_steps and state.step < t.max_steps:
                status = "paused"
                break
    finally:
        bar.close()
    if state.step > first_step and state.step % t.checkpoint_every:
        checkpoint()
    controlnet_dir = None
    if status == "completed":
        if state.step % config.validation.every and state.step != 1:
            validate()
        if main:
            controlnet_dir = _save_final(out, model, ema)
        accelerator.wait_for_everyone()
    skips_all = _gather_skips(accelerator, skips)
    elapsed = state.elapsed_s + time.perf_counter() - started
    summary = {
        "status": status, "stage": config.stage, "step": state.step, "max_steps": t.max_steps,
        "steps_this_run": state.step - first_step, "samples_seen": state.position,
        "effective_batch": t.batch_size * accumulation * world, "world_size": world,
        "resumed_from": str(resume_from) if resume_from else None, "num_sources": len(sources),
        "malformed": skips_all, "controlnet": str(controlnet_dir) if controlnet_dir else None,
        "last_logged": last_logged, "elapsed_s": elapsed, "run_s": time.perf_counter() - started,
        "config": str(out / "config.yaml"),
    }
    if main:
        write_json_atomic(out / "train_summary.json", summary)
    logger.close()
    residual_unet.remove_hooks()
    return TrainResult(status, state.step, out, controlnet_dir, summary)


def _save_final(out: Path, model, ema) -> Path:
    """``controlnet/`` (EMA weights when there is an EMA; the live ones then go to ``controlnet_live/``)."""
    import shutil

    targets = []
    if ema is not None:
        targets.append(("controlnet_live", None))
    targets.append(("controlnet", ema))
    for name, source in targets:
        final = out / name
        tmp = out / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        if source is None:
            model.save_pretrained(tmp, safe_serialization=True)
        else:
            live = {k: v.detach().clone() for k, v in model.state_dict().items()}
            source.copy_to(model)
            model.save_pretrained(tmp, safe_serialization=True)
            model.load_state_dict(live)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    return out / "controlnet"


def _gather_skips(accelerator, skips) -> dict:
    """The malformed samples met by every process."""
    if accelerator.num_processes == 1:
        return skips.summary()
    from accelerate.utils import gather_object

    reasons: dict = {}
    events = 0
    for part in gather_object([skips.state_dict()]):
        reasons.update(part["reasons"])
        events += part["events"]
    return {"malformed_samples": len(reasons), "skip_events": events, "reasons": reasons}
