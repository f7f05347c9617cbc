"""Data: the embedded synthetic release (``synth``) and its data card (``datacard``), MF+STD
features (``mfstd``), the memory-mapped feature and frame store (``store``: format, open, verify),
writing it (``store_writer``) and building it (``featurize``), and the one batch reader
(``batches``).

May import: core, io, metrics.
"""
