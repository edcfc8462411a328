"""Validation during training: videos from the live model through ``PoseTrajPipeline``, scored with the
benchmark's trajectory and pose metrics.

At each validation step every sample of ``validation.suite`` (a small benchmark suite, e.g. ``posetraj bench
build-suite`` of a few held-out clips) is generated from its first frame and trajectories with the live
ControlNet, at the training size and resized back to the sample's size (as the benchmark adapter does), and
written to ``<output_dir>/validation/step-<N>/videos/<sample>.mp4``. The benchmark harness then scores that
folder like any model (``benchmark.harness.run_benchmark``: ObjMC / ADE from the tracker, rotation and box
errors from pose tracking; results in ``.../results/``), and the overall metrics go to TensorBoard and
``metrics.jsonl``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posetraj.training.config import DataConfig, ObjectiveConfig, ValidationConfig

LOGGED_METRICS = ("objmc", "ade", "fde", "within_10px", "rotation_error_deg", "heading_error_deg",
                  "box_corner_error_norm", "pose_fail_rate")


@dataclass
class ValidationResult:
    step: int
    videos: Path
    metrics: dict[str, float | None]  # the overall group of the harness's summary
    preview: np.ndarray  # (H, F*W, 3) uint8: the first sample's frames side by side
    failed: int


class Validator:
    """Generate and score the validation suite with the live model (main process only)."""

    def __init__(self, config: ValidationConfig, data: DataConfig, objective: ObjectiveConfig, out_dir: Path,
                 frozen) -> None:
        from benchmark.suite import load_suite

        self.config, self.data, self.objective, self.out_dir, self.frozen = config, data, objective, Path(out_dir), frozen
        self.suite = load_suite(config.suite)
        self._pipe = None

    def _pipeline(self, controlnet):
        if self._pipe is None:
            from posetraj.pipelines.pipeline_posetraj import PoseTrajPipeline

            f = self.frozen
            self._pipe = PoseTrajPipeline(f.vae, f.image_encoder, f.unet, f.scheduler, f.feature_extractor, controlnet)
            self._pipe.set_progress_bar_config(disable=True)
        return self._pipe

    def run(self, step: int, controlnet, autocast) -> ValidationResult:
        """Generate every sample with ``controlnet`` (unwrapped; put in eval mode meanwhile) and score them."""
        import torch

        from benchmark.harness import RunConfig, run_benchmark
        from common.video import write_mp4
        from posetraj.inference import GenerationSettings, generate_for_image

        pipe = self._pipeline(controlnet)
        settings = GenerationSettings(
            width=self.data.width, height=self.data.height, num_inference_steps=self.config.num_inference_steps,
            min_guidance_scale=self.config.min_guidance_scale, max_guidance_scale=self.config.max_guidance_scale,
            seed=self.config.seed)
        root = self.out_dir / "validation" / f"step-{step:08d}"
        videos = root / "videos"
        videos.mkdir(parents=True, exist_ok=True)
        was_training = controlnet.training
        controlnet.eval()
        preview = None
        try:
            with torch.no_grad(), autocast():
                for sample in self.suite.samples:
                    video = generate_for_image(pipe, sample.image(), sample.trajectories, sample.num_frames, settings)
                    write_mp4(videos / f"{sample.id}.mp4", video, sample.fps)
                    if preview is None:
                        preview = np.concatenate(list(video[: min(len(video), 8)]), axis=1)
        finally:
            controlnet.train(was_training)
        summary = run_benchmark(RunConfig(suite=self.suite.path, model=str(videos), out=root / "results",
                                          tracker=self.config.tracker, cache_dir=root / "cache", progress=False))
        overall = summary["metrics"]["groups"]["overall"]
        metrics = {key: overall.get(key) for key in LOGGED_METRICS}
        return ValidationResult(step, videos, metrics, preview, int(summary["num_failed"]))
