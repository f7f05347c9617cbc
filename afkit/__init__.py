"""afkit: a reproducibility kit for Attend-Fusion (arXiv 2408.14441) on YouTube-8M.

Data flows one way through the package::

    tfrecord (framing, CRC32C) -> wire (protobuf) -> records (YouTube-8M schemas) / shards
        -> synth (embedded data) / datacard -> features -> store / featurize -> batches
        -> baselines / attend_fusion / models -> train / runs / protocol -> metrics / stats
        -> interpret / evidence -> plots -> experiments / arms / answers / claim_map
        -> notebook (setup, outputs) -> report -> reproduce (papermill)

DESIGN.md's module table says what each module may import (tests/test_design.py checks it).

The top-level names below are the stable public API; they are imported lazily so that
``import afkit`` stays cheap (reading records does not import torch).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "read_records": "afkit.records",
    "write_records": "afkit.records",
    "dequantize": "afkit.records",
    "quantize": "afkit.records",
    "CorruptRecordError": "afkit.tfrecord",
    "open_store": "afkit.store",
    "count_parameters": "afkit.models",
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
