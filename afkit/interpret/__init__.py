"""Interpretability: attention weights and captum attributions of a trained model
(``attribution``), scored against the synthetic ground truth (``evidence``).

May import: core, io, metrics, viz, data, models, training.
"""
