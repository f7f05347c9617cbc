"""Damaged files, exhaustively in kind and sampled in place (benchmarks/damage.py runs them all).

For a small frame-level file (3 videos) and a small video-level file (3 videos), each case is a
damaged copy read by every reader: ``read_records`` strict and ``skip_corrupt=True``,
``tfrecord.build_index`` + ``tfrecord.read_record``, and (video-level) ``read_video_batches``
strict and skipping; tests/helpers/damage_oracle.py states what each must do. Coverage per file: a
single-byte flip at *every* byte of every record header and footer (the 12 + 4 framing bytes,
where a missed check would matter most), at 120 payload offsets drawn with a fixed seed (a
payload flip is caught by the same CRC wherever it is), the byte masks drawn with the same
seed; cuts at every record boundary +-1 and 40 drawn lengths. The same on the chunked
(no-mmap, 64-byte chunk) path for a smaller sample; and the stale-index case (a file changed
in place with size and mtime kept).
"""

from __future__ import annotations

import numpy as np
import pytest

from afkit.io import tfrecord as T
from tests.helpers import damage_oracle as D


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    files = D.clean_files(tmp_path_factory.mktemp("clean"))
    return {k: D.Clean(p) for k, p in files.items()}


def _framing(c: D.Clean) -> list[int]:
    """Every header byte (the first 12) and footer byte (the last 4) of every record."""
    return [o + j for o in c.offsets for j in range(12)] + [
        e - 4 + j for e in c.bounds[1:] for j in range(4)
    ]


def _sample(c: D.Clean, seed: int, payload_offsets: int, cuts: int):
    rng = np.random.default_rng(seed)
    framing = _framing(c)
    body = sorted(set(range(len(c.data))) - set(framing))
    picked = sorted(framing + rng.choice(body, payload_offsets, replace=False).tolist())
    flips = [(p, int(rng.integers(1, 256))) for p in picked]
    lengths = {0} | {o + d for o in c.offsets for d in (-1, 0, 1) if 0 <= o + d < len(c.data)}
    lengths |= set(rng.integers(1, len(c.data), cuts).tolist())
    return flips, sorted(lengths)


def _run_sample(c: D.Clean, tmp_path, sample: dict, **kw) -> None:
    """Run the cases of ``_sample(c, **sample)``, and check that they are the cases the docstring
    promises and that every one of them ran: a flip at every framing byte of each of the
    oracle's records plus ``payload_offsets`` distinct payload bytes, a cut at every record
    boundary +-1 (and at 0) plus drawn lengths."""
    flips, cuts = _sample(c, **sample)
    assert len(c.offsets) == D.VIDEOS
    where = [p for p, _ in flips]
    assert set(_framing(c)) <= set(where)
    assert len(set(where)) == len(flips) == D.FRAMING * D.VIDEOS + sample["payload_offsets"]
    boundaries = {o + d for o in c.offsets for d in (-1, 0, 1) if o + d >= 0}
    assert boundaries | {0} <= set(cuts) and len(set(cuts)) == len(cuts)
    assert len(cuts) > len(boundaries) and max(cuts) < len(c.data)
    assert D.run_cases(c, tmp_path, flips, cuts, **kw) == len(flips) + len(cuts)


@pytest.mark.parametrize("kind", ["frame", "video"])
def test_every_damage_raises_or_yields_only_clean_records(clean, tmp_path, kind):
    _run_sample(clean[kind], tmp_path, dict(seed=17, payload_offsets=120, cuts=40))


@pytest.mark.parametrize("kind", ["frame", "video"])
def test_chunked_path_same_verdicts(clean, tmp_path, monkeypatch, kind):
    monkeypatch.setattr(T, "_USE_MMAP", False)
    monkeypatch.setattr(T, "_CHUNK", 64)  # every record straddles chunk boundaries
    _run_sample(
        clean[kind],
        tmp_path,
        dict(seed=18, payload_offsets=30, cuts=15),
        readers=("records", "records_skip", "batches_skip"),
    )


@pytest.mark.parametrize("kind", ["frame", "video"])
def test_stale_index_never_returns_other_bytes(clean, tmp_path, kind):
    c = clean[kind]
    rng = np.random.default_rng(19)
    masks = (0x01, 0x80)  # a low and a high bit: a high length byte flip means ~2**63
    cases = []
    for k, o in enumerate(c.offsets):
        # the length's first and last byte, its CRC's first and last, a payload byte, the footer's
        payload = o + 12 + int(rng.integers(0, c.bounds[k + 1] - o - 16))
        for p in (o, o + 7, o + 8, o + 11, payload, c.bounds[k + 1] - 1):
            for mask in masks:
                D.stale_index_case(c, tmp_path, p, mask)
                cases.append((k, p, mask))
    assert len(set(cases)) == D.VIDEOS * 6 * len(masks)


def test_oracle_catches_a_reader_that_returns_wrong_bytes(clean, tmp_path, monkeypatch):
    """The oracle itself: with the payload check of read_record disabled, a flipped payload
    byte must be reported (guards against a vacuous oracle)."""
    c = clean["video"]
    monkeypatch.setattr(
        T,
        "read_record",
        lambda path, i, verify=True: T.iter_records(
            path, verify=False, start=i, stop=i + 1
        ).__next__(),
    )
    with pytest.raises(D.Failure, match="read_record"):
        D.run_cases(c, tmp_path, [(c.offsets[1] + 40, 0xFF)], [], readers=("index",))
