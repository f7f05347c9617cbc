"""afkit.data.featurize.useful_workers: a second build process only where a core is idle (it
costs more CPU a video than it saves on a busy machine: benchmarks/results/featurize.md). That
the store is the same whatever the count is tests/test_store.py's."""

import os

from afkit.data import featurize


def test_useful_workers_counts_idle_cores():
    # two cores: idle (load 0.2: this process) -> 2; one busy neighbour -> 1; overloaded -> 1
    assert featurize.useful_workers(2, cores=2, load=0.2) == 2
    assert featurize.useful_workers(2, cores=2, load=1.0) == 2  # this process + one idle core
    assert featurize.useful_workers(2, cores=2, load=1.6) == 1
    assert featurize.useful_workers(2, cores=2, load=6.3) == 1
    assert featurize.useful_workers(4, cores=16, load=3.0) == 4  # never more than wanted
    assert featurize.useful_workers(1, cores=16, load=0.0) == 1
    assert 1 <= featurize.useful_workers(2) <= min(2, os.cpu_count() or 1)
