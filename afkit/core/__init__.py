"""Core: what every layer may use. The paper's reported numbers (``paper``), provenance and
atomic writes (``provenance``), one writer per folder (``locks``), crash points for tests
(``faults``).

May import: the standard library and numpy only (no other afkit layer).
"""
