"""afkit's test suite, laid out as the package is.

``tests/<layer>/`` tests the modules of ``afkit/<layer>/`` (core, io, metrics, viz, data, models,
training, interpret, studies, report), using lower layers where it needs them;
``tests/notebooks/`` runs the notebooks (papermill, JupyterLab); ``tests/project/`` checks the
repository as a whole (the layer rule, the dependencies, the README, the benchmark results, the
command line). Shared fixtures live in ``tests/conftest.py``; shared code (data makers, oracles,
the scripts run in a subprocess, the repository's paths) in ``tests/helpers/``. No test module
imports another. Every folder is a package, so that ``tests.helpers`` is importable from the
repository root (pytest puts that root on ``sys.path``) and test names may repeat across folders.
"""
