"""Metrics: the F1 family and the YouTube-8M metrics (``classification``: GAP@20, mAP, Hit@1,
PERR, streamed), and every resampling statistic (``stats``: paired bootstraps, intervals).

The metric functions are importable from here (``afkit.metrics.evaluate``, ``gap``, ...).

May import: core (and numpy).
"""

from afkit.metrics.classification import *  # noqa: F403  (the public metric API, as __all__ lists it)
from afkit.metrics.classification import __all__  # noqa: F401
