"""Report: what a notebook calls first and last (``notebook``), Markdown and HTML blocks
(``markup``), the report itself and ``check-report`` (``document``), the whole reproduction under
papermill (``reproduce``), and the headless browser check (``browser``).

May import: every layer.
"""
