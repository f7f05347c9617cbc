"""Visualisation: figures from arrays and tables (``plots``); no I/O beyond saving a figure.

May import: core (the paper's reported points), matplotlib.
"""
