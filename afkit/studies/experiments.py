"""Running arms: the protocol over a list of specs, its tables, and paired tests of its runs.

An *arm* is a :class:`Spec` (a label, a registered model name, model and training overrides);
the notebooks' arms are listed in :mod:`afkit.studies.arms`. :func:`run_grid` puts every arm of a
list through the tuning protocol (:mod:`afkit.training.protocol`: a learning-rate search at the
tuning seed, then the arm's other seeds at the chosen rate). Each (arm, learning rate, seed) is an
ordinary
:func:`afkit.training.train.train` run in ``RUNS_DIR/<run key>/seed<k>/``, keyed by the model and
its overrides (:func:`run_key`), not by the label: the same arm in two notebooks is trained once.
A finished run is read back only while its config and training code equal the current ones
(otherwise it is retrained); an unfinished one (a ``last.pt`` without ``results.json``) is
resumed exactly.

Outputs are tidy pandas tables:

- :func:`run_grid` -> one row per trial (label, learning rate, seed): sizes (as trained and at
  the paper's size, :func:`arm_size`), validation GAP, every test metric, seconds, videos/s;
- :func:`search_table` -> the learning-rate search at the tuning seed;
- :func:`mean_over_seeds` -> one row per label: mean and standard deviation over the chosen
  runs' seeds, and whether the arm learned;
- :func:`paired_tests` -> paired bootstraps on the test videos of (a - b) for pairs of labels
  (:func:`afkit.training.protocol.paired_difference`), each run's test split predicted once;
  :func:`intervals_table` tabulates them.

Sizes are counted on meta-device builds (no memory): :func:`model_params` of a registered
model, :func:`matched_width` (the width giving a parameter count), :func:`arm_size`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

METRIC_COLUMNS = ("micro_f1", "macro_f1", "gap", "map", "hit_at_one", "perr")
# seeds per profile (the paper profile is for a GPU and the real release)
SEEDS = {"smoke": (0, 1), "cpu": (0, 1, 2), "paper": (0, 1, 2)}


@dataclass(frozen=True)
class Spec:
    """One arm of an experiment: ``label`` names it in tables, ``model`` is a registry name,
    ``overrides`` go to :func:`afkit.models.registry.build` (e.g. ``heads=8``), ``train`` to the
    :class:`afkit.training.train.TrainConfig` (e.g. ``features="mean"``)."""

    label: str
    model: str
    overrides: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    paper_overrides: dict | None = None  # the same arm at paper size (None: ``overrides``)
    seeds: tuple | None = None  # seeds of this arm (None: the grid's)

    def __hash__(self):  # dict fields: hash the label, which is unique within an experiment
        return hash(self.label)


def _meta_model(
    name: str,
    profile: str,
    num_classes: int | None = None,
    features: str | None = None,
    **overrides,
):
    """Registered model ``name`` at ``profile`` built on the meta device (no memory), with
    ``num_classes`` and, for models that read a feature set, ``features`` (unless overridden)."""
    from afkit.models import registry as models

    if num_classes is not None:
        overrides["num_classes"] = num_classes
    if features is not None and "features" in _config_fields(name):
        overrides.setdefault("features", features)
    return models.build(name, profile, device="meta", **overrides)


def _config_fields(name: str) -> set[str]:
    from dataclasses import fields as dc_fields

    from afkit.models import registry as models

    return {f.name for f in dc_fields(models.model_config(name, "smoke"))}


def model_params(
    name: str, profile: str, num_classes: int | None = None, features: str = "mean_std", **overrides
) -> int:
    """Parameters of registered model ``name`` at ``profile`` with ``overrides``
    (a meta-device build)."""
    from afkit.models import registry as models

    return models.count_parameters(_meta_model(name, profile, num_classes, features, **overrides))


def arm_size(
    spec: Spec, profile: str, num_classes: int | None = None, features: str | None = None
) -> dict:
    """``{"params", "flops"}`` of an arm at ``profile`` size (its ``paper_overrides`` at paper
    size): parameters and forward FLOPs per video, built on the meta device (no memory). FLOPs
    of frame-level models are counted at 300 frames."""
    from afkit.models import registry as models

    overrides = dict(
        spec.paper_overrides
        if profile == "paper" and spec.paper_overrides is not None
        else spec.overrides
    )
    model = _meta_model(
        spec.model, profile, num_classes, spec.train.get("features", features), **overrides
    )
    return {"params": models.count_parameters(model), "flops": models.forward_flops(model)}


def arm_paper_size(spec: Spec) -> dict:
    """:func:`arm_size` at paper size (3862 classes) with the paper profile's inputs
    (``afkit.models.reconstruction.PAPER_FEATURES``, mean), or MF+STD for arms that need both
    statistics."""
    from afkit.models.reconstruction import PAPER_FEATURES

    try:
        return arm_size(spec, "paper", features=PAPER_FEATURES)
    except ValueError:
        return arm_size(spec, "paper", features="mean_std")


def matched_width(  # noqa: PLR0913  (a bisection's keyword-only bounds and model values)
    name: str,
    target_params: int,
    profile: str,
    *,
    field: str = "hidden",
    num_classes: int | None = None,
    features: str = "mean_std",
    lo: int = 1,
    hi: int = 1 << 15,
) -> int:
    """The value of width ``field`` of model ``name`` whose parameter count is closest to
    ``target_params`` (counts grow with width: bisection on meta-device builds)."""

    def count(w):
        return model_params(name, profile, num_classes, features, **{field: w})

    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(mid) < target_params else (lo, mid)
    return min((lo, hi), key=lambda w: abs(count(w) - target_params))


def run_key(spec: Spec) -> str:
    """The folder name of a spec's runs: the model and its overrides, not the label, so that the
    same arm in two notebooks (e.g. ``fc_late`` in 04 and 05) is trained once
    (:func:`afkit.training.train.run_key`, the one definition)."""
    from afkit.training import train

    return train.run_key(spec.model, spec.overrides, spec.train)


def run_dir(runs_dir, spec: Spec, seed: int) -> Path:
    return Path(runs_dir) / run_key(spec) / f"seed{seed}"


def stale_reason(out: Path, config) -> str | None:
    """Why a finished run in ``out`` may not be read back for ``config`` (None: it may be, or
    nothing is finished there): ``"code-<old>-to-<new>"`` when it was trained by other training
    code (``afkit.core.provenance.code_hash``, 12 hex digits each), ``"config"`` when by another
    config (an unfinished run, a ``last.pt`` without ``results.json``, is resumed: train checks
    it)."""
    from afkit.core import provenance
    from afkit.training import train

    results = out / train.RESULTS
    if not results.exists():
        return None
    done = json.loads(results.read_text())
    if train._resume_key(train.TrainConfig.from_dict(done["config"])) != train._resume_key(config):
        return "config"
    old, new = str(done.get("code_hash")), provenance.code_hash()
    if old != new:
        return f"code-{old[:12]}-to-{new[:12]}"
    return None


def stale_dir(runs_dir, out: Path, reason: str) -> Path:
    """Where a stale run ``out`` (``RUNS/<key>/seed<k>``) is kept:
    ``RUNS.stale/<key>/seed<k>.<reason>`` (outside ``RUNS``, so that nothing reads it as a
    current run), a number added when taken."""
    runs_dir = Path(runs_dir)
    rel = out.relative_to(runs_dir)
    base = runs_dir.with_name(runs_dir.name + ".stale") / rel.parent / f"{rel.name}.{reason}"
    dest, n = base, 1
    while dest.exists():
        n += 1
        dest = base.with_name(f"{base.name}.{n}")
    return dest


def _prepare(spec: Spec, seed: int, runs_dir, profile: str, **train_overrides):
    """``(config, out)`` of one (spec, seed) run. A finished run made by other training code or
    another config is never deleted: it is moved aside to :func:`stale_dir` (its name says why)
    and the run is trained anew in its place."""
    from afkit.training import train

    out = run_dir(runs_dir, spec, seed)
    config = train.make_config(
        profile,
        model=spec.model,
        seed=seed,
        model_overrides=dict(spec.overrides),
        **{**train_overrides, **spec.train},
    )
    reason = stale_reason(out, config)
    if reason is not None:
        dest = stale_dir(runs_dir, out, reason)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(out, dest)
        why = "another config" if reason == "config" else "other training code"
        print(f"afkit: {out} was trained by {why}; kept as {dest}, training anew", flush=True)
    return config, out


def train_one(spec: Spec, seed: int, store_dir, runs_dir, profile: str, **train_overrides) -> dict:
    """Train (or read back, or resume) one (spec, seed) run; returns its results dict (a stale
    run is kept aside: :func:`_prepare`)."""
    from afkit.training import train

    config, out = _prepare(spec, seed, runs_dir, profile, **train_overrides)
    results = out / train.RESULTS
    if results.exists():
        return json.loads(results.read_text())
    resume = (out / train.CHECKPOINT).exists()
    return train.train(config, store_dir, out, resume=resume)


def _trial(job: tuple) -> dict:
    """One trial of the protocol (a process-pool job): train or read back, then score."""
    from afkit.training import protocol as proto
    from afkit.training import train

    spec, seed, store_dir, runs_dir, profile, overrides = job
    out = run_dir(runs_dir, spec, seed)
    before = _mtime(out / train.RESULTS)
    res = train_one(spec, seed, store_dir, runs_dir, profile, progress=False, **overrides)
    reused = before is not None and before == _mtime(out / train.RESULTS)
    return {
        "res": res,
        "scores": proto.score_run(out, store_dir),
        "run_dir": str(out),
        "run": "reused" if reused else "trained",
    }


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _stacked_trials(jobs: list[tuple]) -> list[dict]:
    """The trials of one arm's learning-rate search (a process-pool job): the new runs among
    them trained together as one stack (:func:`afkit.training.stacked.train_stacked`: the
    same runs within float rounding, each in its own folder), then every trial as
    :func:`_trial` (finished runs read back, an unfinished one resumed alone, a run that
    cannot stack trained alone)."""
    from afkit.training import stacked, train

    fresh = []
    for spec, seed, _store, runs_dir, profile, overrides in jobs:
        config, out = _prepare(spec, seed, runs_dir, profile, progress=False, **overrides)
        if not (out / train.RESULTS).exists() and not (out / train.CHECKPOINT).exists():
            fresh.append((config, out))
    if len(fresh) > 1 and stacked.stack_problem([c for c, _ in fresh]) is None:
        stacked.train_stacked([c for c, _ in fresh], jobs[0][2], [o for _, o in fresh])
    return [_trial(j) for j in jobs]


def _exit_with_parent(parent: int, every_s: float = 1.0) -> None:
    """Pool initializer: a daemon thread ends this worker once ``parent`` is gone
    (the worker is re-parented)."""
    import threading
    import time

    def watch():
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="afkit-parent-watch").start()


def _map_trials(jobs: list, workers: int, progress: bool, desc: str, fn=_trial) -> list:
    """``fn`` (:func:`_trial` by default) of every job, ``workers`` processes at once."""
    from tqdm.auto import tqdm

    if workers <= 1 or len(jobs) <= 1:
        return [fn(j) for j in tqdm(jobs, desc=desc, disable=not progress)]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # spawned workers (torch is not fork-safe) that end when this process does: a killed
    # notebook leaves no orphan training (PR_SET_PDEATHSIG would fire when the executor's
    # thread that started a worker ends, not the process)
    with ProcessPoolExecutor(
        min(workers, len(jobs)),
        mp_context=mp.get_context("spawn"),
        initializer=_exit_with_parent,
        initargs=(os.getpid(),),
    ) as pool:
        futures = [pool.submit(fn, j) for j in jobs]
        for f in tqdm(futures, desc=desc, disable=not progress):
            f.result()  # raises the first failure, naming nothing lost: finished runs stay on disk
        return [f.result() for f in futures]


def run_grid(  # noqa: PLR0913  (the grid's keyword options; train overrides pass through)
    specs: list[Spec],
    store_dir,
    runs_dir,
    profile: str,
    seeds=None,
    *,
    protocol=None,
    progress: bool = True,
    workers: int | None = None,
    stacked: bool = False,
    **train_overrides,
) -> pd.DataFrame:
    """Every spec under the tuning protocol (:mod:`afkit.training.protocol`), tabulated.

    For each spec: one trial per learning rate of the protocol at its ``tune_seed`` (early
    stopping, best epoch kept); the rate with the best validation GAP is chosen; the spec's
    other seeds (``spec.seeds``, else ``seeds``, else the profile's) train at that rate.
    Finished runs are read back (same config and training code), unfinished ones resumed.
    ``stacked=True`` trains each arm's search trials (its learning rates at the tuning seed)
    together as one stack in one process (:mod:`afkit.training.stacked`: the same runs within
    float rounding, the same folders; off by default, see ``benchmarks/results/train_stacked.md``).

    One row per trial: ``label``, ``model``, ``seed``, ``lr``, ``chosen`` (the chosen rate's
    runs), ``best_epoch``, ``epochs_run``, ``params`` (as trained), ``flops``,
    ``paper_params``, ``paper_flops``, ``val_gap`` (selection), the :data:`METRIC_COLUMNS` on
    the **test** split, ``micro_f1_tuned`` (test, at ``threshold``, the best micro-F1
    threshold of validate), ``train_seconds``, ``videos_per_s``, ``evaluated_on`` (the split
    the metrics are on: ``test``, or validate's held-out part for a release whose test split has
    no labels), ``run`` (``reused``: read back from a finished run found in ``runs_dir``;
    ``trained``: trained or resumed by this call), ``run_dir``.
    """
    from afkit.data.batches import open_split
    from afkit.training import protocol as proto

    protocol = protocol or proto.protocol_for(profile)
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"spec labels must be unique, got {labels}")
    default_seeds = tuple(SEEDS[profile] if seeds is None else seeds)
    workers = protocol.workers if workers is None else workers
    num_classes = open_split(store_dir, "train").num_classes
    job = (store_dir, runs_dir, profile, {**train_overrides})
    # stage 1: the search (biggest first, so that the pool ends evenly)
    sizes = {
        s.label: arm_size(
            s, profile, num_classes, features=job_features(s, profile, train_overrides)
        )
        for s in specs
    }
    order = sorted(specs, key=lambda s: -sizes[s.label]["flops"])

    def trial(s, lr, seed):
        return (proto.with_lr(s, lr), seed, *job[:3], {**job[3], **protocol.train_overrides(lr)})

    if stacked:
        search, found, rest, more, chosen_lr = _staged_protocol(
            order, trial, protocol, default_seeds, workers, progress
        )
    else:
        search, found, rest, more, chosen_lr = _pipelined_protocol(
            order, trial, protocol, default_seeds, workers, progress
        )
    positions = {
        s.label: proto.lr_position(
            [j[0].train["lr"] for j in search if j[0].label == s.label],
            chosen_lr[s.label][0],
            protocol,
        )
        for s in specs
    }
    return _grid_table(
        specs,
        search + rest,
        found + more,
        chosen_lr,
        sizes,
        default_seeds=default_seeds,
        tune_seed=protocol.tune_seed,
    ).assign(lr_position=lambda t: t["label"].map(positions))


def _staged_protocol(order, trial, protocol, default_seeds, workers, progress):
    """The protocol in stages, each arm's search trials trained as one stack
    (:func:`_stacked_trials`): the search of every arm, extended past an edge round by round
    until every chosen rate is interior or bounded, then the other seeds at the chosen rates.
    Returns ``(search, found, rest, more, chosen_lr)``."""
    search, found = [], []
    todo = [trial(s, lr, protocol.tune_seed) for s in order for lr in protocol.lrs]
    while todo:
        groups = [[j for j in todo if j[0].label == s.label] for s in order]
        groups = [g for g in groups if g]
        done = [
            r
            for rs in _map_trials(groups, workers, progress, "search", _stacked_trials)
            for r in rs
        ]
        search, found = search + todo, found + done
        chosen_lr = _chosen_rates(search, found, protocol.select_metric)
        todo = []
        for s in order:
            tried = [j[0].train["lr"] for j in search if j[0].label == s.label]
            nxt = protocol.next_rate(tried, chosen_lr[s.label][0])
            if nxt is not None and nxt not in tried:
                todo.append(trial(s, nxt, protocol.tune_seed))
    rest = [
        trial(s, chosen_lr[s.label][0], k)
        for s in order
        for k in s.seeds or default_seeds
        if k != protocol.tune_seed
    ]
    return search, found, rest, _map_trials(rest, workers, progress, "seeds"), chosen_lr


class _Inline:
    """A stand-in for a one-worker pool: each job runs when submitted."""

    def submit(self, fn, job):
        from concurrent.futures import Future

        f = Future()
        f.set_result(fn(job))
        return f


def _pipelined_protocol(order, trial, protocol, default_seeds, workers, progress):
    """The protocol with no barrier between arms: an arm's next trial (a rate past an edge, or
    its other seeds at the chosen rate) is queued as soon as its own search has finished, so
    the ``workers`` processes stay busy while a slow arm is still searching (the runs, and the
    table, are those of a search done in rounds: every decision reads the arm's own trials).
    Returns ``(search, found, rest, more, chosen_lr)``, search in rounds (then arm, then rate),
    rest by arm then seed."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from tqdm.auto import tqdm

    rank = {s.label: i for i, s in enumerate(order)}
    searched: dict[str, list] = {s.label: [] for s in order}  # (round, position, job, result)
    seeded: dict[str, list] = {s.label: [] for s in order}  # (position, job, result)
    outstanding = {s.label: 0 for s in order}
    chosen_lr: dict = {}
    bar = tqdm(total=0, desc="trials", disable=not progress)
    pool = (
        ProcessPoolExecutor(
            workers,
            mp_context=mp.get_context("spawn"),
            initializer=_exit_with_parent,
            initargs=(os.getpid(),),
        )
        if workers > 1
        else None
    )
    running: dict = {}

    def submit(s, kind, key, job):
        outstanding[s.label] += kind == "search"
        bar.total += 1
        bar.refresh()
        running[(pool or _Inline()).submit(_trial, job)] = (s, kind, key, job)

    try:
        for s in order:
            for i, lr in enumerate(protocol.lrs):
                submit(s, "search", (0, i), trial(s, lr, protocol.tune_seed))
        while running:
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for f in sorted(finished, key=lambda f: rank[running[f][0].label]):
                s, kind, key, job = running.pop(f)
                result = f.result()  # raises the first failure: finished runs stay on disk
                bar.update(1)
                if kind == "seeds":
                    seeded[s.label].append((key, job, result))
                    continue
                searched[s.label].append((*key, job, result))
                outstanding[s.label] -= 1
                if outstanding[s.label]:
                    continue
                rows = sorted(searched[s.label], key=lambda r: r[:2])
                best = _chosen_rates(
                    [r[2] for r in rows], [r[3] for r in rows], protocol.select_metric
                )
                chosen_lr.update(best)
                tried = [r[2][0].train["lr"] for r in rows]
                nxt = protocol.next_rate(tried, best[s.label][0])
                if nxt is not None and nxt not in tried:
                    submit(s, "search", (key[0] + 1, 0), trial(s, nxt, protocol.tune_seed))
                    continue
                for i, k in enumerate(s.seeds or default_seeds):
                    if k != protocol.tune_seed:
                        submit(s, "seeds", i, trial(s, best[s.label][0], k))
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    search = sorted(
        (r for rows in searched.values() for r in rows),
        key=lambda r: (r[0], rank[r[2][0].label], r[1]),
    )
    rest = sorted(
        (r for rows in seeded.values() for r in rows), key=lambda r: (rank[r[1][0].label], r[0])
    )
    return (
        [r[2] for r in search],
        [r[3] for r in search],
        [r[1] for r in rest],
        [r[2] for r in rest],
        chosen_lr,
    )


def _chosen_rates(
    search: list[tuple], found: list[dict], metric: str
) -> dict[str, tuple[float, float]]:
    """Per spec label, the searched learning rate with the best validation ``metric`` (the
    first of equals) and that value."""
    chosen_lr = {}
    for (spec, *_), r in zip(search, found, strict=True):
        label = spec.label
        value = r["res"]["final"][metric]
        if label not in chosen_lr or value > chosen_lr[label][1]:
            chosen_lr[label] = (spec.train["lr"], value)
    return chosen_lr


def _grid_table(
    specs: list[Spec],
    trials: list[tuple],
    results: list[dict],
    chosen_lr: dict,
    sizes: dict,
    *,
    default_seeds: tuple,
    tune_seed: int,
) -> pd.DataFrame:
    """:func:`run_grid`'s table: one row per trial, in the order of ``specs``, then seed, then
    rate."""
    rows = []
    by_label = {s.label: s for s in specs}
    paper = {s.label: arm_paper_size(s) for s in specs}
    for (spec, seed, *_), r in zip(trials, results, strict=True):
        base = by_label[spec.label]
        res, sc = r["res"], r["scores"]
        lr = spec.train["lr"]
        in_seeds = seed in (base.seeds or default_seeds) or seed == tune_seed
        rows.append(
            {
                "label": spec.label,
                "model": spec.model,
                "seed": seed,
                "lr": lr,
                "chosen": lr == chosen_lr[spec.label][0] and in_seeds,
                "best_epoch": res.get("best_epoch"),
                "epochs_run": res.get("epochs_run"),
                "stop_reason": res.get("stop_reason", "cap"),
                "converged": bool(res.get("converged", False)),
                "plateau_gain": res.get("plateau_gain"),
                "params": res["num_parameters"],
                "flops": sizes[spec.label]["flops"],
                "paper_params": paper[spec.label]["params"],
                "paper_flops": paper[spec.label]["flops"],
                "val_gap": sc["val"]["gap"],
                **{m: sc["test"].get(m) for m in METRIC_COLUMNS},
                "micro_f1_tuned": sc["test_micro_f1_tuned"],
                "threshold": sc["threshold"],
                "train_seconds": res["train_seconds"],
                "videos_per_s": res.get("videos_per_s"),
                "evaluated_on": sc.get("evaluated_on", "test"),
                "run": r.get("run", "trained"),
                "run_dir": r["run_dir"],
            }
        )
    rank = {s.label: i for i, s in enumerate(specs)}
    out = pd.DataFrame(rows)
    out = out.iloc[
        sorted(
            range(len(out)),
            key=lambda i: (rank[out["label"].iat[i]], out["seed"].iat[i], out["lr"].iat[i]),
        )
    ]
    return out.reset_index(drop=True)


def job_features(spec: Spec, profile: str, train_overrides: dict) -> str:
    """The video-level feature set a spec's runs train on (its own, the call's, the profile's)."""
    from afkit.training import train

    return spec.train.get(
        "features", train_overrides.get("features", train.PROFILES[profile]["features"])
    )


def search_table(grid: pd.DataFrame) -> pd.DataFrame:
    """The search at the tuning seed: one row per (label, lr) with its validation GAP, the
    epochs it ran and its best epoch, and whether it was chosen."""
    first = grid.groupby("label", sort=False)["seed"].transform("min")
    cols = [
        "label",
        "lr",
        "val_gap",
        "best_epoch",
        "epochs_run",
        "stop_reason",
        "plateau_gain",
        "chosen",
        "lr_position",
    ]
    cols = [c for c in cols if c in grid]
    return grid[grid["seed"] == first][cols].reset_index(drop=True)


SUMMARY_METRICS = METRIC_COLUMNS + ("micro_f1_tuned", "val_gap", "best_epoch")


def mean_over_seeds(
    grid: pd.DataFrame,
    metrics=SUMMARY_METRICS,
    floor_gap: float | None = None,
    reference_gap: float | None = None,
) -> pd.DataFrame:
    """One row per label (first-seen order) over the chosen runs: sizes, the chosen ``lr`` and
    its ``lr_position``, ``<metric>_mean`` / ``<metric>_std`` over seeds (std with ddof=1; 0 for
    one seed), ``seeds``, ``epochs_run_max``, ``converged`` (every chosen run's plateau stop
    fired before the cap); with ``floor_gap`` (:func:`afkit.training.protocol.prior_gap`) also
    ``learned`` (:func:`afkit.training.protocol.learned` on the means, against logistic
    regression's test GAP ``reference_gap`` when given: :func:`reference_gap`) and
    ``counts`` (learned and converged: the arms a finding may rest on)."""
    from afkit.training import protocol as proto

    grid = grid[grid["chosen"]] if "chosen" in grid else grid
    order = list(dict.fromkeys(grid["label"]))
    fixed = [
        c
        for c in (
            "model",
            "params",
            "flops",
            "paper_params",
            "paper_flops",
            "lr",
            "lr_position",
            "evaluated_on",
        )
        if c in grid
    ]
    g = grid.groupby("label", sort=False)
    out = g[fixed].first()
    for m in [m for m in metrics if m in grid] + [
        c for c in ("train_seconds", "videos_per_s") if c in grid
    ]:
        out[f"{m}_mean"] = g[m].mean()
        out[f"{m}_std"] = g[m].std(ddof=1).fillna(0.0)
    out["seeds"] = g["seed"].count()
    if "epochs_run" in grid:
        out["epochs_run_max"] = g["epochs_run"].max()
    if "converged" in grid:
        out["converged"] = g["converged"].all()
    out = out.loc[order].reset_index()
    if floor_gap is not None:
        out["learned"] = proto.learned(
            out["micro_f1_tuned_mean"], out["gap_mean"], floor_gap, reference_gap
        )
        out["learned_bar"] = proto.learned_bar(floor_gap, reference_gap)
        out["counts"] = out["learned"] & out.get("converged", True)
    return out


def reference_gap(store_dir, runs_dir, profile: str, *, progress: bool = False, **train_overrides):
    """Logistic regression's test GAP on ``store_dir``, trained under the profile's protocol at
    its tuning seed (the learned rule's reference: :func:`afkit.training.protocol.learned`);
    the run is shared with any arm that trains the same model (``run_key``)."""
    from afkit.training import protocol as proto

    tune = proto.protocol_for(profile).tune_seed
    spec = Spec("logistic", "logistic", seeds=(tune,))
    grid = run_grid([spec], store_dir, runs_dir, profile, progress=progress, **train_overrides)
    return float(grid.loc[grid["chosen"], "gap"].mean())


def paired_tests(
    grid: pd.DataFrame, pairs, store_dir, *, n_boot: int = 1000, seed: int = 0
) -> list[dict]:
    """Paired bootstraps on the **test** videos of (a - b), for each pair ``(a, b)`` of labels of
    ``grid``'s chosen runs: GAP and micro-F1 at each run's validate threshold (``gap_*``,
    ``micro_f1_*``) and micro-F1 at 0.5 (``micro_f1_05_*``), each averaged over the label's
    seeds (:func:`afkit.training.protocol.paired_difference`), with ``a``, ``b``, ``seeds_a``,
    ``seeds_b``. Every run is predicted once, however many pairs it is in."""
    from afkit.metrics.stats import Bootstrap
    from afkit.training import protocol as proto

    chosen = grid[grid["chosen"]]
    scores, thresholds, labels = {}, {}, None
    for lab in dict.fromkeys(lab for pair in pairs for lab in pair):
        rows = chosen[chosen["label"] == lab]
        if rows.empty:
            raise ValueError(f"no chosen runs of {lab!r} in the grid")
        scores[lab], thresholds[lab] = [], list(rows["threshold"])
        for d in rows["run_dir"]:
            _, s, labels = proto.run_scores(d, store_dir, "test")
            scores[lab].append(s)
    out = []
    boot = Bootstrap(n_boot=n_boot, seed=seed)
    for a, b in pairs:
        tuned = proto.paired_difference(
            scores[a],
            scores[b],
            labels,
            boot,
            thresholds_a=thresholds[a],
            thresholds_b=thresholds[b],
        )
        half = proto.paired_difference(scores[a], scores[b], labels, boot)
        test = {"a": a, "b": b, "seeds_a": len(scores[a]), "seeds_b": len(scores[b]), **tuned}
        test["evaluated_on"] = (
            str(chosen["evaluated_on"].iloc[0]) if "evaluated_on" in chosen else "test"
        )
        test.update(
            {
                k.replace("micro_f1", "micro_f1_05"): v
                for k, v in half.items()
                if k.startswith("micro_f1")
            }
        )
        out.append(test)
    return out


def intervals_table(cis: list[dict]) -> pd.DataFrame:
    """The paired tests as a table: one row per (pair, metric) with the difference
    (points) and its interval."""
    rows = []
    for ci in cis:
        for m, name in (
            ("gap", "GAP"),
            ("micro_f1", "micro-F1 (validate threshold)"),
            ("micro_f1_05", "micro-F1 at 0.5"),
        ):
            rows.append(
                {
                    "a": ci["a"],
                    "b": ci["b"],
                    "metric": name,
                    "diff_points": 100 * ci[f"{m}_diff"],
                    "lo": 100 * ci[f"{m}_lo"],
                    "hi": 100 * ci[f"{m}_hi"],
                    "p_a_better": ci[f"{m}_p_a_better"],
                    "seeds_a": ci["seeds_a"],
                    "seeds_b": ci["seeds_b"],
                    "n_videos": ci["n_videos"],
                    "evaluated_on": ci.get("evaluated_on", "test"),
                }
            )
    return pd.DataFrame(rows)


def not_learned_note(summary: pd.DataFrame) -> str:
    """A caption suffix naming the arms left out of a figure because they did not learn or did
    not converge (:func:`mean_over_seeds`' ``learned`` and ``converged``)."""
    return "".join(f"; not shown, {why}: {', '.join(labs)}" for why, labs in _left_out(summary))


def _left_out(summary: pd.DataFrame) -> list[tuple[str, list[str]]]:
    out = []
    for col, why in (("learned", "did not learn"), ("converged", "did not converge")):
        if col in summary:
            bad = list(summary.loc[~summary[col].astype(bool), "label"])
            if bad:
                out.append((why, bad))
    return out


def learned_runs(grid: pd.DataFrame, summary: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The chosen runs of the arms that count (learned and converged), and the caption note for
    those left out."""
    ok = set(summary["label"])
    for col in ("learned", "converged"):
        if col in summary:
            ok &= set(summary.loc[summary[col].astype(bool), "label"])
    chosen = grid[grid["chosen"] & grid["label"].isin(ok)]
    return chosen, not_learned_note(summary)


def convergence_curves(grid: pd.DataFrame) -> pd.DataFrame:
    """The validation history of each arm's chosen run at its first seed (the tuning seed):
    one row per (label, epoch) with every ``val_*`` metric, ``lr`` and the run's
    ``stop_reason`` (:func:`afkit.viz.plots.plot_convergence` draws it)."""
    from afkit.training import train

    chosen = grid[grid["chosen"]]
    first = chosen.groupby("label", sort=False)["seed"].transform("min")
    rows = []
    for r in chosen[chosen["seed"] == first].itertuples():
        res = json.loads((Path(r.run_dir) / train.RESULTS).read_text())
        for h in res["history"]:
            rows.append(
                {
                    "label": r.label,
                    "epoch": h["epoch"],
                    "lr": h["lr"],
                    **{k: v for k, v in h.items() if k.startswith("val_")},
                    "stop_reason": res.get("stop_reason", "cap"),
                }
            )
    return pd.DataFrame(rows)


def history_table(results: dict) -> pd.DataFrame:
    """One row an epoch of a run's results: epoch, train_loss, val_* metrics, seconds."""
    return pd.DataFrame(results["history"])


def final_table(results: dict) -> pd.DataFrame:
    """The final validation metrics of a run as a two-column table (metric, value)."""
    final = results["final"]
    return pd.DataFrame({"metric": list(final), "value": [final[k] for k in final]})


def explain_inputs(
    run, store_dir, max_videos: int | None, split: str = "validate", batch_size: int = 32
):
    """(model, batches, ids) for notebook 08: a finished run's (folder ``run``) model in eval mode,
    the first ``max_videos`` videos of ``split`` as a list of frame batches (the store's own loader,
    in store order, every frame kept), and the store's ids."""
    from afkit.data.batches import open_split
    from afkit.training import inference as runs

    model, _ = runs.load_run(run)
    loader = open_split(store_dir, split, model.input_kind, batch_size=batch_size, shuffle=False)
    st = loader.store
    n = len(st) if max_videos is None else min(max_videos, len(st))
    batches = []
    for batch in loader.iter_epoch(0):
        batches.append(batch)
        if sum(len(b["index"]) for b in batches) >= n:
            break
    return model, batches, list(st.ids)
