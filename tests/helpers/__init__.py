"""Code the tests share: the repository's paths, data and store makers, the damage oracle, and the
scripts run in a subprocess or by hand (``python -m tests.helpers.<name>`` from the repository
root)."""
