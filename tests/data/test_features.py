"""MF+STD featurization against a direct float64 numpy computation from the dequantized frames."""

import numpy as np
import pytest

from afkit.data import mfstd as F
from afkit.io.records import dequantize, quantize, read_records, write_records


def reference(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The definition: dequantize (the starter code's float32 map), then mean/std in float64."""
    x = dequantize(q).astype(np.float64)
    return x.mean(0), x.std(0)  # numpy's std is the population std (ddof=0)


@pytest.mark.parametrize("t", [1, 2, 150, 256, 257, 300])
def test_pool_frames_matches_float64_reference(t):
    rng = np.random.default_rng(t)
    q = rng.integers(0, 256, (t, 1024), dtype=np.uint8)
    mean, std = F.pool_frames(q)
    ref_mean, ref_std = reference(q)
    np.testing.assert_allclose(mean, ref_mean, rtol=0, atol=1e-6)
    np.testing.assert_allclose(std, ref_std, rtol=0, atol=1e-6)
    if t == 1:
        assert np.all(std == 0.0)


def test_std_has_no_cancellation_error():
    # constant frames at the top code: the one-pass formula E[q^2] - E[q]^2 in float32 gives noise
    q = np.full((300, 128), 255, dtype=np.uint8)
    q[:, 0] = 0
    q[::2, 1] = 254
    mean, std = F.pool_frames(q)
    assert np.all(std[2:] == 0.0) and std[0] == 0.0
    # column 1: half 254, half 255 -> std = scale * 0.5 exactly
    assert std[1] == pytest.approx(F.DEQUANT_SCALE * 0.5, rel=1e-15)
    np.testing.assert_allclose(mean, reference(q)[0], atol=1e-6)


def test_frame_sums_are_exact_integers():
    rng = np.random.default_rng(0)
    q = rng.integers(240, 256, (300, 64), dtype=np.uint8)  # sums of squares above 2^24
    s1, s2 = F.frame_sums(q)
    qi = q.astype(np.int64)
    assert np.array_equal(s1, qi.sum(0).astype(np.float64))
    assert np.array_equal(s2, (qi * qi).sum(0).astype(np.float64))
    assert s2.max() > 2**24


def test_frame_sums_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one frame"):
        F.frame_sums(np.zeros((0, 8), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        F.frame_sums(np.zeros((3, 8), np.float32))


def test_columns_layout():
    assert F.columns("mean") == {"mean_rgb": slice(0, 1024), "mean_audio": slice(1024, 1152)}
    assert F.columns("mean_std") == {
        "mean_rgb": slice(0, 1024),
        "std_rgb": slice(1024, 2048),
        "mean_audio": slice(2048, 2176),
        "std_audio": slice(2176, 2304),
    }
    assert (F.feature_dim("mean"), F.feature_dim("mean_std")) == (1152, 2304)
    with pytest.raises(ValueError, match="unknown feature set 'median'"):
        F.columns("median")


def test_video_features_from_frame_record():
    rng = np.random.default_rng(1)
    rec = {
        "id": "a",
        "labels": [1],
        "rgb": rng.integers(0, 256, (37, 1024), dtype=np.uint8),
        "audio": rng.integers(0, 256, (37, 128), dtype=np.uint8),
    }
    x = F.video_features(rec, "mean_std")
    mr, sr = reference(rec["rgb"])
    ma, sa = reference(rec["audio"])
    np.testing.assert_allclose(x, np.concatenate([mr, sr, ma, sa]), atol=1e-6)
    np.testing.assert_allclose(F.video_features(rec, "mean"), np.concatenate([mr, ma]), atol=1e-6)


def test_video_features_from_video_level_record():
    rng = np.random.default_rng(2)
    rec = {
        "id": "v",
        "labels": [],
        "mean_rgb": rng.normal(size=1024).astype(np.float32),
        "mean_audio": rng.normal(size=128).astype(np.float32),
    }
    x = F.video_features(rec, "mean")
    assert np.array_equal(
        x, np.concatenate([rec["mean_rgb"], rec["mean_audio"]]).astype(np.float64)
    )
    with pytest.raises(ValueError, match="needs frame-level records"):
        F.video_features(rec, "mean_std")
    with pytest.raises(ValueError, match="neither frames"):
        F.video_features({"id": "x", "labels": []}, "mean")


def test_dequantize_lut_is_records_dequantize():
    q = np.arange(256, dtype=np.uint8)
    assert np.array_equal(F.dequantize_lut()[q], dequantize(q))
    # our float64 affine map uses the starter code's float32 constants
    np.testing.assert_allclose(
        q * F.DEQUANT_SCALE + F.DEQUANT_BIAS, dequantize(q), rtol=0, atol=3e-7
    )


def test_mean_from_frames_agrees_with_video_level_mean(tmp_path):
    """The release's video-level mean is the mean of the unquantized features; the frame-level
    files hold them quantized. Pooling the dequantized frames recovers it to within half a
    quantization step (2/255), and on average far closer."""
    rng = np.random.default_rng(3)
    frame_recs, video_recs = [], []
    for i in range(12):
        t = int(rng.integers(1, 300))
        xr = np.clip(rng.normal(0, 0.6, (t, 1024)), -2, 2)
        xa = np.clip(rng.normal(0, 0.6, (t, 128)), -2, 2)
        frame_recs.append(
            {"id": f"v{i}", "labels": [i], "rgb": quantize(xr), "audio": quantize(xa)}
        )
        video_recs.append(
            {
                "id": f"v{i}",
                "labels": [i],
                "mean_rgb": xr.mean(0).astype(np.float32),
                "mean_audio": xa.mean(0).astype(np.float32),
            }
        )
    write_records(tmp_path / "f.tfrecord", frame_recs)
    write_records(tmp_path / "v.tfrecord", video_recs)
    from_frames = np.stack(
        [x for _, x in F.featurize_records(read_records(tmp_path / "f.tfrecord"), "mean")]
    )
    from_video = np.stack(
        [x for _, x in F.featurize_records(read_records(tmp_path / "v.tfrecord"), "mean")]
    )
    diff = np.abs(from_frames - from_video)
    assert diff.max() <= 2 / 255 + 1e-6
    assert diff.mean() < 0.2 * 2 / 255
