"""The model part of ``posetraj demo`` (not a subcommand): train the tiny PoseTraj model on clips of the
train built-ins and score it on the demo's benchmark suite beside the baselines.

The training clips use only the built-ins reserved for training (``duck``, ``robot``, ``truck``), never the
suite's; the trainer is told the suite (``data.exclude_suites``) and would refuse shared assets. The model is
the tiny random SVD of ``posetraj.tiny`` with a fresh Traj-ControlNet, trained for a few steps with the same
code path and the ``pose`` stage's config as a real run; it generates the suite's videos through the
benchmark adapter (``posetraj.adapters``), and the harness scores them like any model. Its videos are not
meaningful: the point is that the whole loop runs.
"""

from __future__ import annotations

import time
from pathlib import Path

MODEL_NAME = "posetraj-tiny"
TRAIN_TRAJECTORIES = ("half_circle", "s_curve")


def render_training_clips(out: Path, *, width: int, height: int, num_frames: int, samples: int, seed: int,
                          progress: bool) -> tuple[Path, list[str]]:
    """Clips of every train built-in on the PoseTraj-10k families into ``out`` (finished clips are kept)."""
    from assets_catalog.builtin import builtin_names
    from render.dataset import plan_builtin_dataset, render_dataset

    specs = plan_builtin_dataset(builtin_names("train"), TRAIN_TRAJECTORIES, seeds=[seed], preset="draft",
                                 num_frames=num_frames, width=width, height=height, samples=samples)
    report = render_dataset(specs, out, redraws_out_of_frame=4, progress=progress, desc="render training clips")
    return out, report.clips


def train_tiny_model(out: Path, clips: Path, suite: Path, *, steps: int, width: int, height: int, num_frames: int,
                     progress: bool):
    """Train the tiny model's ControlNet for ``steps`` steps (the ``pose`` stage's code path and config)."""
    from posetraj.tiny import write_tiny_svd
    from posetraj.training.config import load_config
    from posetraj.training.loop import train

    svd = out / "tiny_svd"
    if not (svd / "model_index.json").is_file():
        write_tiny_svd(svd, num_frames=num_frames)
    config = load_config("pose", [
        f"model.svd={svd}", "model.variant=null", f"data.paths=[{clips}]", f"data.exclude_suites=[{suite}]",
        f"data.width={width}", f"data.height={height}", f"data.num_frames={num_frames}", "data.num_workers=0",
        "train.mixed_precision=no", "train.gradient_checkpointing=false", "train.batch_size=2",
        "train.gradient_accumulation_steps=1", f"train.max_steps={steps}", "train.log_every=5",
        f"train.checkpoint_every={steps}", "optim.lr=1e-3", f"output_dir={out / 'train'}"])
    return svd, train(config, progress=progress)


def score_tiny_model(out: Path, svd: Path, controlnet: Path, suite: Path, *, width: int, height: int,
                     tracker: str | None, tracker_options: dict | None, progress: bool) -> dict:
    """Generate the suite's videos with the trained model through the adapter and score them."""
    from benchmark.harness import RunConfig, run_benchmark
    from posetraj import adapters

    adapters.configure(svd, controlnet, device="cpu", width=width, height=height, num_inference_steps=4)
    return run_benchmark(RunConfig(suite=suite, model="posetraj.adapters:generate", label=MODEL_NAME,
                                   out=out / "results" / MODEL_NAME,
                                   cache_dir=out / "cache", tracker=tracker, tracker_config=dict(tracker_options or {}),
                                   progress=progress))


def run_model_part(out: Path, suite: Path, *, steps: int, seed: int, tracker: str | None, tracker_options: dict | None,
                   progress: bool, width: int = 96, height: int = 64, num_frames: int = 8) -> dict:
    """Render training clips, train, score; returns the benchmark summary plus a ``training`` record."""
    import torch

    started = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model is fastest on one thread of a shared 2-core machine
    try:
        clips, names = render_training_clips(out / "train_clips", width=width, height=height,
                                             num_frames=num_frames + 4, samples=4, seed=seed, progress=progress)
        rendered = time.perf_counter()
        svd, result = train_tiny_model(out, clips, suite, steps=steps, width=width, height=height,
                                       num_frames=num_frames, progress=progress)
        trained = time.perf_counter()
        summary = score_tiny_model(out, svd, result.controlnet, suite, width=width, height=height, tracker=tracker,
                                   tracker_options=tracker_options, progress=progress)
    finally:
        torch.set_num_threads(threads)
    summary["training"] = {
        "clips": len(names), "train_builtins": sorted({n.split("_")[0] for n in names}), "steps": result.step,
        "train_s": result.summary["run_s"], "controlnet": str(result.controlnet), "svd": str(svd),
        "render_s": rendered - started, "train_and_load_s": trained - rendered,
        "score_s": time.perf_counter() - trained, "generation_size": [width, height],
    }
    return summary


def model_note(training: dict) -> str:
    """The closing summary's plain statement about the tiny model."""
    return (f"  {MODEL_NAME} is the tiny random-initialised SVD stand-in (about 1 M parameters, no pretrained "
            f"weights) with a Traj-ControlNet trained for {training['steps']} steps ({training['train_s']:.0f} s) on "
            f"{training['clips']} clips of the train built-ins ({', '.join(training['train_builtins'])}), none of "
            f"which is in the suite. Its videos are not meaningful: the row shows that rendering, training, "
            f"generation and scoring run as one loop. Real results need the SVD weights and a GPU (README, "
            f"'Training PoseTraj').")
