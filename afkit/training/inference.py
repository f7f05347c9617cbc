"""Trained runs: load a finished run's model, score a split, evaluate, write and read the
YouTube-8M submission CSV, and the ``eval`` / ``predict`` commands. Training itself is
:mod:`afkit.training.train`; a run folder's layout is in DESIGN.md."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import torch

from afkit.core import cli
from afkit.core.provenance import atomic_write, write_json
from afkit.data.batches import Batches, open_split
from afkit.models import registry as models
from afkit.training import devices
from afkit.training.evaluation import evaluate_model, progress_bar, split_scores
from afkit.training.train import FINAL, TrainConfig, load_checkpoint


def load_run(run_dir, device="cpu"):
    """``(model, config)`` of a finished run (``model.pt``, loaded safely:
    :func:`afkit.training.train.load_checkpoint`), in eval mode on ``device``."""
    path = Path(run_dir) / FINAL
    if not path.exists():
        raise FileNotFoundError(f"no trained model at {path} (has the run finished?)")
    state = load_checkpoint(path)
    config = TrainConfig.from_dict(state["config"])
    model = models.build(config.model, profile=config.profile, **state["model_args"])
    model.load_state_dict(state["model"])
    model.to(devices.resolve_device(device) if isinstance(device, str) else device).eval()
    return model, config


def open_run_split(model, config: TrainConfig | None, store, split: str) -> Batches:
    """The batches of ``split`` of the store directory ``store`` for ``model``'s own inputs
    (its kind and feature set; the run's ``max_frames``); an open :class:`Batches` as it is."""
    if isinstance(store, Batches):
        return store
    features = getattr(model.config, "features", "mean")
    max_frames = config.max_frames if config is not None else 300
    return open_split(
        store, split, model.input_kind, features=features, max_frames=max_frames, shuffle=False
    )


@torch.no_grad()
def predict_scores(
    model,
    store,
    split: str = "test",
    *,
    config: TrainConfig | None = None,
    batch_size: int = 1024,
    device=None,
    progress: bool = True,
):
    """``(ids, scores)``: sigmoid scores ``[N, C]`` float32 of ``model`` on a split, batched.

    ``store`` is a store directory (``split`` is opened from it) or an open
    :class:`afkit.data.batches.Batches`.
    """
    data = open_run_split(model, config, store, split)
    config = config or TrainConfig()
    device = next(model.parameters()).device if device is None else torch.device(device)
    model.eval()
    autocast = devices.autocast_for(device, config.bf16)
    n = data.num_videos
    scores = np.empty((n, data.num_classes), dtype=np.float32)
    for s in progress_bar(range(0, n, batch_size), desc=f"predict {split}", disable=not progress):
        rows = np.arange(s, min(n, s + batch_size))
        scores[rows], _ = split_scores(model, data, rows, device, autocast)
    return data.ids[0:n], scores


def evaluate_run(
    run_dir,
    store_dir,
    split: str = "validate",
    *,
    batch_size: int = 1024,
    device="cpu",
    progress: bool = True,
) -> dict:
    """Every metric of a finished run on ``split`` of ``store_dir``."""
    model, config = load_run(run_dir, device)
    data = open_run_split(model, config, store_dir, split)
    return evaluate_model(
        model,
        data,
        batch_size=batch_size,
        device=next(model.parameters()).device,  # "auto" resolved by load_run
        top_k=config.top_k,
        threshold=config.threshold,
        bf16=config.bf16,
        progress=progress,
    )


def write_submission(path, ids, scores, top_k: int = 20) -> None:
    """The release's submission CSV: ``VideoId,LabelConfidencePairs``, then per video its
    ``top_k`` classes as ``"%i %g"`` pairs, space-separated, highest score first."""
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[0] != len(ids):
        raise ValueError(f"scores must be [len(ids)={len(ids)}, C], got {scores.shape}")
    bad = ~np.isfinite(scores).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} video(s) have non-finite scores (NaN or inf), the first "
            f"{ids[int(np.argmax(bad))]!r}: not written to a submission"
        )
    k = min(top_k, scores.shape[1])

    def write(tmp):
        with open(tmp, "w", newline="") as f:
            out = csv.writer(f, lineterminator="\n")  # an id with a comma or newline is quoted
            out.writerow(["VideoId", "LabelConfidencePairs"])
            for s in range(0, len(ids), 4096):
                block = scores[s : s + 4096]
                top = np.argpartition(-block, k - 1, axis=1)[:, :k]
                vals = np.take_along_axis(block, top, 1)
                order = np.argsort(-vals, axis=1, kind="stable")
                top = np.take_along_axis(top, order, 1)
                vals = np.take_along_axis(vals, order, 1)
                for i in range(len(block)):
                    pairs = " ".join("%i %g" % (c, v) for c, v in zip(top[i], vals[i], strict=True))
                    out.writerow([ids[s + i], pairs])

    atomic_write(Path(path), write)


def read_submission(path) -> dict[str, list[tuple[int, float]]]:
    """Parse a submission CSV back: ``{video_id: [(class, score), ...]}`` in file order."""
    out = {}
    with open(path, newline="") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if header != ["VideoId", "LabelConfidencePairs"]:
            raise ValueError(f"{path}: not a submission file (header {header!r})")
        for row in rows:
            if len(row) != 2:
                raise ValueError(f"{path}: line {rows.line_num} has {len(row)} fields, expected 2")
            vid, pairs = row
            toks = pairs.split()
            out[vid] = [(int(toks[i]), float(toks[i + 1])) for i in range(0, len(toks), 2)]
    return out


def _run_parser(command: str, description: str, split: str):
    p = cli.parser(command, description)
    p.add_argument("--run", required=True, help="a finished run folder (python -m afkit train)")
    p.add_argument("--store", required=True, help="the store folder the run's inputs come from")
    p.add_argument("--split", default=split, help="the store split to score")
    p.add_argument("--batch-size", type=int, default=1024, help="videos a forward pass")
    cli.add_device(p)
    return p


def eval_main(argv: list[str] | None = None) -> int:
    """``python -m afkit eval``: every metric of a finished run on one split, printed."""
    p = _run_parser(
        "eval",
        "Print every metric (GAP@20, mAP, Hit@1, PERR, the F1 family) of a finished run on one\n"
        "split of a store.\n\n"
        "example:\n  python -m afkit eval --run runs/af --store STORE --split test",
        "validate",
    )
    p.add_argument("--json", help="also write the metrics to this JSON file")
    args = p.parse_args(argv)
    m = evaluate_run(
        args.run,
        args.store,
        args.split,
        batch_size=args.batch_size,
        device=args.device,
        progress=False,
    )
    width = max(map(len, m))
    for k, v in m.items():
        print(f"{k:<{width}}  {v:.6f}" if isinstance(v, float) else f"{k:<{width}}  {v}")
    if args.json:
        write_json(args.json, m)
    return 0


def predict_main(argv: list[str] | None = None) -> int:
    """``python -m afkit predict``: a finished run's submission CSV for one split."""
    p = _run_parser(
        "predict",
        "Write the YouTube-8M submission CSV (VideoId,LabelConfidencePairs: each video's top-k\n"
        "classes with their scores) of a finished run on one split of a store.\n\n"
        "example:\n  python -m afkit predict --run runs/af --store STORE --out submission.csv",
        "test",
    )
    p.add_argument("--out", required=True, help="the submission CSV to write")
    p.add_argument("--top-k", type=int, default=20, help="classes written per video")
    args = p.parse_args(argv)
    model, config = load_run(args.run, args.device)
    ids, scores = predict_scores(
        model, args.store, args.split, config=config, batch_size=args.batch_size
    )
    write_submission(args.out, ids, scores, top_k=args.top_k)
    print(f"wrote {len(ids)} predictions to {args.out}")
    return 0


def import_run(run_dir, out_dir=None, *, move: bool = False) -> Path:
    """Files a finished run (a folder with ``config.json`` and ``results.json``, trained anywhere:
    ``python -m afkit train --out``, torchrun, another machine) into the one run-folder layout,
    ``OUT/runs/<model,overrides,train.lr=LR>/seed<k>``
    (:func:`afkit.training.train.default_run_dir`; ``OUT`` = ``out_dir``, else ``out/<profile>``),
    where the notebooks look; copied, or moved
    with ``move``. Returns the new folder. Raises ``ValueError`` for a folder that is not a
    finished run and ``FileExistsError`` when the destination is taken (a run is never
    overwritten)."""
    import json
    import shutil

    from afkit.training import train

    src = Path(run_dir)
    missing = [n for n in (train.CONFIG, train.RESULTS, FINAL) if not (src / n).is_file()]
    if missing:
        raise ValueError(
            f"{src} is not a finished run: it has no {', '.join(missing)} (train it to the end, or "
            f"resume it with `python -m afkit train --resume --out {src}`)"
        )
    config = TrainConfig.from_dict(json.loads((src / train.CONFIG).read_text()))
    dest = train.default_run_dir(config, out_dir)
    if dest.resolve() == src.resolve():
        return dest
    if dest.exists():
        raise FileExistsError(
            f"{dest} already holds a run: move it aside first, or import into another --out-dir"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    if move:
        shutil.move(str(src), str(dest))
    else:
        tmp = dest.with_name(dest.name + ".importing")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp, ignore=shutil.ignore_patterns(".afkit.lock"))
        tmp.rename(dest)  # whole, or not at all
    return dest


def import_main(argv: list[str] | None = None) -> int:
    """``python -m afkit import-run RUN_DIR [--out-dir OUT] [--move]``."""
    ap = argparse.ArgumentParser(
        prog="python -m afkit import-run",
        description="File a finished run trained anywhere (by hand, torchrun, another machine) "
        "into OUT/runs/<model,overrides,train.lr=LR>/seed<k>, where the notebooks find it.",
    )
    ap.add_argument("run_dir", help="the finished run's folder (config.json, results.json)")
    ap.add_argument(
        "--out-dir", default=None, help="the notebooks' out_dir (default out/<profile>)"
    )
    ap.add_argument("--move", action="store_true", help="move instead of copying")
    a = ap.parse_args(argv)
    try:
        dest = import_run(a.run_dir, a.out_dir, move=a.move)
    except (ValueError, FileExistsError) as e:
        print(f"afkit import-run: {e}", file=sys.stderr)
        return 1
    print(dest)
    return 0
