"""Synthetic faces on disk and as datasets: shards written in parallel (WebP images and label arrays,
`write`), read back (`SyntheticShards`) or rendered on the fly (`SyntheticStream`), and the contact
sheet that shows samples with their 68 points. `edgeface synthesize` (edgeface.cli.synthesize) runs these."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from . import attributes, topology
from .morphable import MorphableModel
from .sampling import ARCHETYPES
from .synthetic import LABEL_KEYS, SyntheticConfig, SyntheticFaces


def contact_sheet(samples: list[dict], lm68, columns: int = 8) -> np.ndarray:
    """A BGR grid of samples with their 68 points: green visible, red hidden by the head itself,
    blue covered by an occluder."""
    tiles = []
    for s in samples:
        img = np.ascontiguousarray(s["image"][..., ::-1])
        for (x, y, _), v, o in zip(s["landmarks68"], s["visible"][lm68], s["occluded"][lm68]):
            colour = (255, 80, 0) if o else (0, 220, 0) if v else (0, 0, 255)
            cv2.circle(img, (int(x * 4), int(y * 4)), 4, colour, -1, cv2.LINE_AA, shift=2)
        tiles.append(img)
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    return np.concatenate([np.concatenate(tiles[i : i + columns], 1) for i in range(0, len(tiles), columns)], 0)


_WORKER: dict = {}


def _start_worker(model_path, config, seed):
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # one process per core: BLAS threads would only compete with the other workers
    _WORKER["engine"] = SyntheticFaces(MorphableModel.load(model_path), config, seed)


def _write_shard(job) -> int:
    path, start, stop = job
    engine = _WORKER["engine"]
    samples = []
    for first in range(start, stop, 16):
        samples += engine.batch(range(first, min(first + 16, stop)))
    blobs = [
        np.frombuffer(cv2.imencode(".webp", s["image"][..., ::-1], [cv2.IMWRITE_WEBP_QUALITY, 90])[1], np.uint8)
        for s in samples
    ]
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    labels = {k: np.stack([s[k] for s in samples]) for k in LABEL_KEYS}
    np.savez(path, blob=np.concatenate(blobs), offsets=offsets, index=np.arange(start, stop), **labels)
    return stop - start


def write(
    out,
    count: int,
    seed: int = 0,
    config: SyntheticConfig | None = None,
    shard_size: int = 1000,
    workers: int = 2,
    model_path=None,
) -> Path:
    """Render samples [0, count) into `out`/shard-NNNNN.npz (WebP images + label arrays) and an
    index.json describing them. Deterministic: the same seed writes the same labels and pixels."""
    import multiprocessing

    from tqdm import tqdm

    config = config or SyntheticConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model_path = model_path or MorphableModel.default_path()
    jobs = [
        (out / f"shard-{k:05d}.npz", a, min(a + shard_size, count)) for k, a in enumerate(range(0, count, shard_size))
    ]
    meta = {
        "format": "edgeface-synthetic",
        "version": 1,
        "count": count,
        "seed": seed,
        "config": asdict(config),
        "shards": [j[0].name for j in jobs],
        "shard_size": shard_size,
        "label_keys": list(LABEL_KEYS),
        "attribute_names": list(attributes.load()),
        "archetypes": list(ARCHETYPES),
        "topology": {k: topology.load()[k] for k in ("name", "version", "num_points")},
        "source": "rendered from ICT-FaceKit (MIT); contains no photographs",
    }
    with tqdm(total=count, desc="render", unit="face") as bar:
        if workers <= 1:
            _start_worker(model_path, config, seed)
            for job in jobs:
                bar.update(_write_shard(job))
        else:
            ctx = multiprocessing.get_context("spawn")  # numba and BLAS threads do not survive fork well
            with ctx.Pool(workers, _start_worker, (model_path, config, seed)) as pool:
                for done in pool.imap_unordered(_write_shard, jobs):
                    bar.update(done)
    (out / "index.json").write_text(json.dumps(meta, indent=1) + "\n")
    return out


class SyntheticShards:
    """Samples written by `write`, as a map-style dataset of dicts (image: uint8 RGB HWC).
    One shard is held in memory at a time per process: shuffle within shards for speed."""

    def __init__(self, root):
        self.root = Path(root)
        index = self.root / "index.json"
        if not index.exists():
            raise FileNotFoundError(f"{index} not found: write shards with `edgeface synthesize write`")
        self.meta = json.loads(index.read_text())
        self.shard_size, self.count = self.meta["shard_size"], self.meta["count"]
        self._shard = (None, None)

    def __len__(self):
        return self.count

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.count:
            raise IndexError(i)
        k, j = divmod(int(i), self.shard_size)
        if self._shard[0] != k:
            with np.load(self.root / self.meta["shards"][k]) as d:
                self._shard = (k, {key: d[key] for key in d.files})
        d = self._shard[1]
        image = cv2.imdecode(d["blob"][d["offsets"][j] : d["offsets"][j + 1]], cv2.IMREAD_COLOR)[..., ::-1]
        return {"image": np.ascontiguousarray(image), **{key: d[key][j] for key in LABEL_KEYS}}


class SyntheticStream:
    """Renders on the fly: item i is sample `offset + i` of the engine (no storage at all).
    Each DataLoader worker process holds its own engine."""

    def __init__(self, engine: SyntheticFaces, length: int, offset: int = 0):
        self.engine, self.length, self.offset = engine, length, offset

    def __len__(self):
        return self.length

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.length:
            raise IndexError(i)
        return self.engine.sample(self.offset + int(i))
