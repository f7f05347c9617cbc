"""One tuning protocol for every arm of every notebook: search, early stopping, test scoring.

The paper gives 20 epochs at learning rate 1e-4 (AdamW, dropout 0.4) and nothing else, so a
reproduction needs a protocol a reviewer accepts for every arm alike. Ours (*our
reconstruction*, :data:`PROTOCOLS`):

1. **The same search budget per arm**: the learning rate over ``Protocol.lrs``, each trial
   trained at seed ``tune_seed`` for at most ``max_epochs`` epochs, the rate annealed to 0 over
   them (cosine: a run has converged when its budget ends), with early stopping: it stops
   after ``patience`` epochs without a new best validation GAP, and the best epoch's weights
   are kept (``afkit.training.train``: ``patience``, ``keep_best``).
2. **Chosen on validate**: the learning rate whose best validation GAP is highest; the other
   seeds are then trained at that learning rate, under the same early stopping.
3. **Reported on test**: every metric of the kept weights on the store's ``test`` split, micro-F1
   at 0.5 and micro-F1 at the threshold that maximises micro-F1 on validate (applied unchanged to
   test). The synthetic test split keeps its labels; the real release's has none, so there the
   store's ``test/`` is a held-out 20% of validate (by video id hash), disjoint from the
   ``validate/`` that chooses rates, epochs and thresholds (:mod:`afkit.data.featurize`). Every
   score records the split it is on (``evaluated_on``) and every table and answer names it.
4. **Did it learn**: an arm counts as learned when its test micro-F1 (at the validate
   threshold) is above 0 and its test GAP
   is at least :data:`LEARNED_MARGIN` above the GAP of the class-frequency predictor (every
   video scored by the training split's label frequencies, :func:`prior_gap`).

The ``paper`` profile keeps the paper's recipe as its default (one learning rate, 1e-4; 20
epochs; no early stopping; the last epoch kept) and can run the same search by passing a
:class:`Protocol`. Trials are independent training runs, so they run ``workers`` at a time in
separate processes (each single-threaded on CPU: small models gain little from a second
thread, and two busy-waiting thread pools fight each other on a shared machine).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from afkit.core import paper

SCORES = "scores.json"  # per run: validate threshold and test metrics of the kept weights
LEARNED_MARGIN = 0.05  # test GAP above the class-frequency predictor's for an arm to count


@dataclass(frozen=True)
class Protocol:
    """The tuning budget every arm gets (plain values)."""

    lrs: tuple[float, ...]  # learning rates searched at tune_seed
    max_epochs: int  # epochs at most
    patience: int | None  # epochs without a better validation GAP before stopping (None: never)
    schedule: str = "cosine"  # the learning rate anneals to 0 at max_epochs: every run converges
    # within the budget (a constant rate left the best runs still improving at the cap)
    keep_best: bool = True  # keep the best validation epoch's weights (else the last epoch's)
    select_metric: str = "gap"  # the validation metric that selects epochs and learning rates
    tune_seed: int = 0  # the seed of the search; other seeds train at the chosen rate
    workers: int = 1  # trials trained at once (processes)

    def train_overrides(self, lr: float) -> dict:
        """The ``TrainConfig`` values of one trial."""
        return {
            "lr": lr,
            "epochs": self.max_epochs,
            "patience": self.patience,
            "keep_best": self.keep_best,
            "select_metric": self.select_metric,
            "schedule": self.schedule,
        }

    def describe(self, evaluated_on: str = "test") -> str:
        """The protocol in one sentence (for notebooks and the report); ``evaluated_on`` names
        the split the numbers are reported on (``afkit.data.store.evaluation_name``)."""
        stop = (
            f"early stopping after {self.patience} epochs without a better validation "
            f"{self.select_metric.upper()}, best epoch kept"
            if self.patience
            else "no early stopping, the last epoch kept"
        )
        sched = (
            "annealed to 0 over the epochs (cosine)" if self.schedule == "cosine" else "constant"
        )
        lrs = ", ".join(f"{x:g}" for x in self.lrs)
        tuned = "validate" if evaluated_on == "test" else "the rest of validate"
        return (
            f"every arm: learning rate from {{{lrs}}} chosen on {tuned} (best validation "
            f"{self.select_metric.upper()} at seed {self.tune_seed}), {sched}, at most "
            f"{self.max_epochs} epochs, {stop}; other seeds at the chosen rate; every number "
            f"reported on {split_words(evaluated_on)}"
        )


def split_words(name: str) -> str:
    """A split's name in a sentence: ``"the test split"``, or the carved part of validate as
    named (``"validate-holdout (20% by id hash)"``)."""
    return f"the {name} split" if name in ("test", "validate") else name


PROTOCOLS = {
    "smoke": Protocol(lrs=(3e-3, 1e-2), max_epochs=30, patience=3, workers=1),
    # cpu: two rates, not three: a 3e-4 trial of a 3.5M-parameter model runs to the epoch cap
    # (~2 min at one thread), and the whole reproduction must fit 45 minutes on two cores
    "cpu": Protocol(lrs=(1e-3, 3e-3), max_epochs=24, patience=4, workers=2),
    "paper": Protocol(
        lrs=(paper.LEARNING_RATE,),
        max_epochs=paper.EPOCHS,
        patience=None,
        keep_best=False,
        schedule="constant",
        workers=1,
    ),
}


def protocol_for(profile: str) -> Protocol:
    if profile not in PROTOCOLS:
        raise ValueError(f"unknown profile {profile!r}; expected one of {sorted(PROTOCOLS)}")
    return PROTOCOLS[profile]


# ---------------------------------------------------------------------------------- scoring
def score_run(run_dir, store_dir, *, refresh: bool = False) -> dict:
    """Validate threshold and test metrics of a finished run's kept weights (cached in
    ``run_dir/scores.json``): ``threshold`` (the best micro-F1 threshold on validate, a grid of
    0.01), ``val`` and ``test`` (every metric; ``micro_f1`` at 0.5), ``test_micro_f1_tuned``
    (micro-F1 on test at ``threshold``), ``evaluated_on`` and ``tuned_on``: the splits the
    store's ``test/`` and ``validate/`` hold (the release's test split, or for a release whose
    test split has no labels the held-out part of validate and the rest of it:
    :func:`afkit.data.store.evaluation_name`). The run's model is loaded once for both splits."""
    from afkit.core import provenance
    from afkit.data import store
    from afkit.metrics import classification as metrics
    from afkit.training import inference as runs

    path = Path(run_dir) / SCORES
    if path.exists() and not refresh:
        cached = json.loads(path.read_text())
        if cached.get("evaluated_on", "test") == store.evaluation_name(store_dir):
            cached.setdefault("evaluated_on", "test")  # scores written before it was recorded
            cached.setdefault("tuned_on", "validate")
            return cached
    model, config = runs.load_run(run_dir)
    _, val_scores, val_labels = model_scores(model, config, store_dir, "validate")
    val = metrics.evaluate(val_scores, val_labels)
    _, test_scores, test_labels = model_scores(model, config, store_dir, "test")
    test = metrics.evaluate(test_scores, test_labels)
    tuned, _ = metrics.f1_at_threshold(test_scores, test_labels, val["best_threshold"])
    out = {
        "threshold": float(val["best_threshold"]),
        "val": val,
        "test": test,
        "test_micro_f1_tuned": float(tuned),
        "evaluated_on": store.evaluation_name(store_dir),
        "tuned_on": store.tuning_name(store_dir),
    }
    provenance.write_json(path, out)
    return out


def run_scores(run_dir, store_dir, split: str):
    """(ids, scores [N, C], labels as a list of int64 arrays) of a finished run on ``split``."""
    from afkit.training import inference as runs

    model, config = runs.load_run(run_dir)
    return model_scores(model, config, store_dir, split)


def model_scores(model, config, store_dir, split: str):
    """:func:`run_scores` of a loaded run (``model``, ``config``:
    :func:`afkit.training.inference.load_run`)."""
    from afkit.training import inference as runs

    data = runs.open_run_split(model, config, store_dir, split)
    ids, scores = runs.predict_scores(model, data, split, config=config, progress=False)
    return ids, scores, [data.store.labels(i) for i in range(data.num_videos)]


def prior_gap(store_dir, split: str = "test") -> float:
    """GAP@20 of the class-frequency predictor: every video of ``split`` scored by the training
    split's label frequencies. An arm below it plus :data:`LEARNED_MARGIN` learned nothing
    that the label counts do not already say."""
    from afkit.data import store
    from afkit.metrics import classification as metrics

    train = store.open_store(Path(store_dir) / "train")
    freq = np.zeros(train.num_classes)
    for i in range(len(train)):
        freq[train.labels(i)] += 1
    test = store.open_store(Path(store_dir) / split)
    scores = np.tile((freq / max(len(train), 1)).astype(np.float32), (len(test), 1))
    return float(metrics.gap(scores, [test.labels(i) for i in range(len(test))]))


def learned(micro_f1, gap, floor_gap: float) -> np.ndarray:
    """Elementwise: test micro-F1 (at the validate threshold) above 0 and test GAP >=
    ``floor_gap + LEARNED_MARGIN``."""
    return (np.asarray(micro_f1) > 0) & (np.asarray(gap) >= floor_gap + LEARNED_MARGIN)


# ----------------------------------------------------------------------------- paired tests
def paired_difference(
    scores_a: list,
    scores_b: list,
    labels,
    boot=None,
    *,
    thresholds_a=None,
    thresholds_b=None,
) -> dict:
    """Paired bootstrap over videos of (A - B) for GAP@20 and micro-F1, each model's metric
    averaged over its seeds (lists of [N, C] score arrays on the same videos).

    Each replicate draws N videos with replacement (:func:`afkit.metrics.stats.bootstrap_weights`,
    the same draw for every model and seed); GAP and micro-F1 of each resample are
    :func:`afkit.metrics.stats.gap_replicates` and :func:`afkit.metrics.stats.micro_f1_replicates`,
    micro-F1 at each seed's threshold (``thresholds_*``, default 0.5). Returns, per metric (``gap``,
    ``micro_f1``), ``<metric>_diff`` (on all videos), ``<metric>_lo`` / ``_hi`` (percentile
    interval) and ``<metric>_p_a_better``; plus ``n_videos``, ``n_boot``, ``confidence``. ``boot``:
    the resamples, their seed and the confidence (:class:`afkit.metrics.stats.Bootstrap`).
    """
    from afkit.metrics import stats

    boot = boot or stats.Bootstrap()
    n_boot, seed, confidence = boot.n_boot, boot.seed, boot.confidence
    n = scores_a[0].shape[0]
    w = stats.bootstrap_weights(n, n_boot, seed)

    def per_model(scores, thresholds):
        thresholds = thresholds or [0.5] * len(scores)
        gaps = [stats.gap_replicates(s, labels, w) for s in scores]
        f1s = [
            stats.micro_f1_replicates(s, labels, t, w)
            for s, t in zip(scores, thresholds, strict=True)
        ]
        return (
            {"gap": np.mean([g[0] for g in gaps]), "micro_f1": np.mean([f[0] for f in f1s])},
            {"gap": np.mean([g[1] for g in gaps], 0), "micro_f1": np.mean([f[1] for f in f1s], 0)},
        )

    full_a, reps_a = per_model(scores_a, thresholds_a)
    full_b, reps_b = per_model(scores_b, thresholds_b)
    out = {"n_videos": int(n), "n_boot": int(n_boot), "confidence": confidence}
    for m in ("gap", "micro_f1"):
        d = reps_a[m] - reps_b[m]
        lo, hi = stats.percentile_interval(d, confidence)
        out.update(
            {
                f"{m}_diff": float(full_a[m] - full_b[m]),
                f"{m}_lo": lo,
                f"{m}_hi": hi,
                f"{m}_p_a_better": float((d > 0).mean()),
            }
        )
    return out


def verdict(lo: float, hi: float, a: str, b: str, margin: float = 0.0) -> str:
    """The reading of an interval of (a - b): which is better beyond the interval, or neither."""
    if lo > margin:
        return f"{a} is better beyond bootstrap noise"
    if hi < -margin:
        return f"{b} is better beyond bootstrap noise"
    return "the interval contains 0: the two are not distinguishable at this size"


def with_lr(spec, lr: float):
    """``spec`` with its trial's learning rate (part of the run's folder name)."""
    return replace(spec, train={**spec.train, "lr": lr})
