"""afkit: a reproducibility kit for Attend-Fusion (arXiv 2408.14441) on YouTube-8M.

Subpackages by layer; data flows one way, and a layer imports only the layers before it::

    core -> io -> metrics -> viz -> data -> models -> training -> interpret -> studies -> report

- ``core``: the paper's numbers, provenance and atomic writes, locks, crash points
- ``io``: TFRecord framing, the protobuf wire format, the YouTube-8M schemas, sharding
- ``metrics``: F1, GAP@20, mAP, Hit@1, PERR; resampling statistics
- ``viz``: figures from arrays and tables
- ``data``: the synthetic release, MF+STD features, the feature and frame store, batches
- ``models``: the baselines, Attend-Fusion, the registry, the parameter reconstruction
- ``training``: the training loop, evaluation, finished runs, the tuning protocol
- ``interpret``: attention and attributions, scored against the ground truth
- ``studies``: the notebooks' arms, answers and claim map
- ``report``: notebook setup, the report, the whole reproduction

DESIGN.md's layer table says what each module is for; tests/project/test_design.py checks the
layer rule.

The top-level names below are the stable public API; they are imported lazily so that
``import afkit`` stays cheap (reading records does not import torch).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "read_records": "afkit.io.records",
    "write_records": "afkit.io.records",
    "dequantize": "afkit.io.records",
    "quantize": "afkit.io.records",
    "CorruptRecordError": "afkit.io.tfrecord",
    "open_store": "afkit.data.store",
    "count_parameters": "afkit.models.registry",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'afkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
