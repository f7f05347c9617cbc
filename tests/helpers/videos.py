"""Random video dicts in the afkit.io.records layout, for any test."""

import numpy as np


def make_videos(
    n: int, *, seed: int = 0, frames=None, start: int = 0, num_classes: int = 3862
) -> list[dict]:
    """``n`` random video dicts in the afkit.io.records layout: video-level, or frame-level with
    ``frames`` (an int or a list of frame counts); labels drawn from ``num_classes``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        v = {
            "id": f"vid{start + i:05d}",
            "labels": np.sort(rng.choice(num_classes, size=i % 4, replace=False)).astype(np.int64),
        }
        if frames is None:
            v["mean_rgb"] = rng.standard_normal(1024).astype(np.float32)
            v["mean_audio"] = rng.standard_normal(128).astype(np.float32)
        else:
            t = frames if isinstance(frames, int) else frames[i % len(frames)]
            v["rgb"] = rng.integers(0, 256, (t, 1024), dtype=np.uint8)
            v["audio"] = rng.integers(0, 256, (t, 128), dtype=np.uint8)
        out.append(v)
    return out
