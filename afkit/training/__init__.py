"""Training: where a run computes (``devices``), a model's scores and metrics on a split
(``evaluation``), the training loop and the ``train`` command (``train``), finished runs, their
scores and submissions (``inference``), and the one tuning protocol of every arm (``protocol``).

May import: core, io, metrics, data, models.
"""
