"""Scoring in worker processes: the model generates (or the cache provides) each video in the parent while
``workers`` processes, sharing the cache, track and score the samples already generated."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, replace
from pathlib import Path

from benchmark.models import GenerationError, resolve_model
from benchmark.scoring import Scorer, sample_row, scorer_from_config
from benchmark.suite import Sample
from benchmark.video_check import InvalidVideoError


def score_in_workers(config, scorer: Scorer, cache_dir: Path) -> list[dict]:
    """Generate (or reuse) each video here and hand the sample to one of ``config.workers`` processes
    that share the cache, so scoring runs while the next video is generated (a model on a GPU keeps
    generating while the CPUs score); rows come back in suite order and the workers' timings are added up."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    if resolve_model(config.model).identity != scorer.model.identity:
        raise ValueError(f"with workers > 1 the model must be the one the configuration names ({config.model!r})")
    samples = scorer.suite.samples
    name = config.label or scorer.model.name
    failed: dict[str, str] = {}
    worker_config = replace(config, regenerate=False, cache_dir=cache_dir, progress=False)
    context = multiprocessing.get_context("spawn")
    # processes start at the first submitted sample, while the model goes on with the next one
    with ProcessPoolExecutor(max(1, min(config.workers, len(samples))), mp_context=context, initializer=_worker_init,
                             initargs=(worker_config,)) as pool:
        pending, rows = {}, {}
        try:
            for sample in tqdm(samples, desc=f"generate {name}", unit="sample", file=sys.stderr,
                               disable=not (config.progress and scorer.model.needs_cache)):
                if scorer.model.needs_cache:
                    try:
                        scorer.video(sample)  # into the cache, where the worker finds it
                    except (GenerationError, InvalidVideoError) as exc:
                        failed[sample.id] = str(exc)
                        continue
                    finally:
                        sample.release()
                pending[sample.id] = pool.submit(_worker_score, sample.id)
            for sample_id, future in tqdm(pending.items(), desc=f"bench {name}", unit="sample",
                                          file=sys.stderr, disable=not config.progress):
                rows[sample_id], timing = future.result()
                for name, value in timing.items():
                    setattr(scorer.timing, name, getattr(scorer.timing, name) + value)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # an interrupted run leaves no queued samples
            raise
    return [rows[sample.id] if sample.id in rows else sample_row(sample, failed[sample.id]) for sample in samples]


_worker_scorer: Scorer | None = None
_worker_samples: dict[str, Sample] = {}


def _worker_init(config) -> None:
    """Each scoring process builds its own scorer from the run's configuration (models, trackers and
    LPIPS weights are named there, so nothing unpicklable crosses processes)."""
    global _worker_scorer, _worker_samples
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _worker_scorer = scorer_from_config(config)
    _worker_samples = {sample.id: sample for sample in _worker_scorer.suite.samples}


def _worker_score(sample_id: str) -> tuple[dict, dict]:
    scorer, sample = _worker_scorer, _worker_samples[sample_id]
    before = asdict(scorer.timing)
    row, _, _ = scorer.score(sample)
    return row, {name: value - before[name] for name, value in asdict(scorer.timing).items()}
