"""Cache of the frozen encoders' outputs per clip, so a long run encodes each frame once.

Before training, every source without an entry is encoded once (its frames prepared exactly as the loader
prepares them: stage-1 boxes, fitted to the training size): per frame the VAE posterior's mean and std, the
CLIP image embedding, and the first-frame image latent (``vae.encode(frame + strength * noise).mode()``).
Training then reads windows from the cache: video latents are drawn from the cached posterior with the
sample's own noise, exactly as without the cache. One difference: the image latent's noise augmentation is
drawn once per frame when the entry is written (seeded by the clip and frame), instead of afresh each time.

Layout: ``<cache_dir>/<identity key>/identity.json`` (cache version, SVD folder and its VAE / CLIP files,
target, size, resize mode, noise strength, dtype) and one ``<source>-<content key>.safetensors`` per source
(tensors ``mean``, ``std``, ``image_latent`` (T, 4, h, w), ``clip`` (T, D); metadata ``version``). The content key hashes the
clip's ``DONE`` marker (the sha256 of every file) or a frames folder's file names, sizes and times, so an
edited clip is encoded again. Entries are written atomically; a cache can be shared by runs and processes.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from common.atomic import write_atomic, write_json_atomic
from posetraj.training.data import SampleError, SkipLog, Source, WindowDataset

CACHE_VERSION = 1


def _sha(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _files_fingerprint(folder: Path) -> list:
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    return [[str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def encoder_identity(svd: str | Path, data_config, noise_aug_strength: float) -> dict:
    """What the cached values depend on besides the clip itself."""
    svd = Path(svd)
    return {"version": CACHE_VERSION, "svd": str(svd.resolve()), "vae": _files_fingerprint(svd / "vae"),
            "image_encoder": _files_fingerprint(svd / "image_encoder"), "kind": data_config.kind,
            "target": data_config.target, "size": [data_config.width, data_config.height],
            "resize": data_config.resize, "noise_aug_strength": noise_aug_strength, "dtype": data_config.cache_dtype}


class LatentCache:
    """Read and write cache entries (see the module docstring)."""

    def __init__(self, root: str | Path, identity: dict) -> None:
        self.identity = identity
        self.dir = Path(root) / _sha(identity)[:16]
        self.dtype = np.dtype(identity["dtype"])

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if not (self.dir / "identity.json").is_file():
            write_json_atomic(self.dir / "identity.json", self.identity)

    def entry(self, source: Source) -> Path:
        path = Path(source.path)
        content = (path / "DONE").read_text() if source.kind == "clip" and (path / "DONE").is_file() \
            else _files_fingerprint(path)
        key = _sha([source.kind, source.path, source.num_frames, source.size, content])[:16]
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in source.name)[:80]
        return self.dir / f"{safe}-{key}.safetensors"

    def load(self, source: Source) -> dict[str, np.ndarray]:
        from safetensors import SafetensorError, safe_open

        path = self.entry(source)
        if not path.is_file():
            raise SampleError(source.name, f"not in the latent cache {self.dir} (malformed when the cache was built?)")
        try:
            with safe_open(str(path), framework="np") as handle:
                version = int((handle.metadata() or {}).get("version", -1))
                if version != CACHE_VERSION:
                    raise SampleError(source.name, f"{path}: cache version {version} is not {CACHE_VERSION}")
                return {k: handle.get_tensor(k).astype(np.float32) for k in ("mean", "std", "image_latent", "clip")}
        except (OSError, SafetensorError, KeyError, ValueError) as exc:
            if isinstance(exc, SampleError):
                raise
            raise SampleError(source.name, f"{path}: unreadable cache entry ({exc})") from None

    def write(self, source: Source, arrays: dict[str, np.ndarray]) -> None:
        from safetensors.numpy import save_file

        stored = {k: np.ascontiguousarray(v, dtype=self.dtype) for k, v in arrays.items()}
        write_atomic(self.entry(source), lambda tmp: save_file(stored, str(tmp), {"version": str(CACHE_VERSION)}),
                     suffix=".safetensors")


def _frame_noise(name: str, shape: tuple[int, ...]):
    import torch

    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def build_cache(cache: LatentCache, dataset: WindowDataset, encoders, device, noise_aug_strength: float,
                skips: SkipLog, rank: int = 0, world_size: int = 1, progress: bool = True, chunk: int = 16) -> int:
    """Encode this process's share of the sources that have no entry yet; returns how many it encoded."""
    import torch
    from tqdm import tqdm

    from posetraj.training.framing import Fit

    cache.prepare()
    todo = [s for s in dataset.sources[rank::world_size] if not cache.entry(s).is_file()]
    count = 0
    for source in tqdm(todo, desc="encode latents", unit="clip", disable=not progress or not todo, file=sys.stderr):
        try:
            frames = Fit.make(source.size, dataset.size, dataset.config.resize).frames(dataset.source_frames(source))
        except SampleError as exc:
            if dataset.config.strict:
                raise
            skips.add(exc.name, exc.reason)
            continue
        pixels = torch.from_numpy(frames).permute(0, 3, 1, 2).to(device, torch.float32) / 127.5 - 1.0
        mean, std = encoders.posteriors(pixels, chunk)
        clip, image = [], []
        for start in range(0, pixels.shape[0], chunk):
            part = pixels[start:start + chunk]
            clip.append(encoders.clip_embeddings(part)[:, 0].float())
            noise = torch.stack([_frame_noise(f"{source.name}:{i}", tuple(part.shape[1:]))
                                 for i in range(start, start + part.shape[0])])
            image.append(encoders.image_latents(part, noise, noise_aug_strength))
        cache.write(source, {"mean": mean.cpu().numpy(), "std": std.cpu().numpy(),
                             "image_latent": torch.cat(image).cpu().numpy(), "clip": torch.cat(clip).cpu().numpy()})
        count += 1
    return count
