"""afkit.viz.plots.save_figure writes byte-stable figures: the same figure saved by two separate
processes gives identical SVG (and PNG) bytes, with no date in the metadata. The control: the
same script with matplotlib's plain ``savefig`` gives different SVG bytes across processes (its
hash salt is random per process and its metadata carries the date), so the test can fail."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import REPO as ROOT

SCRIPT = """
import sys
import matplotlib
matplotlib.use("Agg")
import numpy as np
from afkit.viz import plots
plots.set_style()
fig = plots.plot_frame_counts(np.arange(1, 301))
if sys.argv[2] == "afkit":
    plots.save_figure(fig, "fig", sys.argv[1])
else:
    import matplotlib.pyplot as plt
    plt.rcParams["svg.hashsalt"] = None  # matplotlib's default: a random salt per process
    fig.savefig(sys.argv[1] + "/fig.svg", format="svg")
"""


def _save(out: Path, how: str) -> None:
    out.mkdir(parents=True)
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"}
    subprocess.run([sys.executable, "-c", SCRIPT, str(out), how], check=True, env=env, cwd=ROOT)


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_same_figure_same_bytes_in_two_processes(tmp_path, fmt):
    _save(tmp_path / "a", "afkit")
    _save(tmp_path / "b", "afkit")
    a = (tmp_path / "a" / f"fig.{fmt}").read_bytes()
    b = (tmp_path / "b" / f"fig.{fmt}").read_bytes()
    assert a == b
    if fmt == "svg":
        assert b"<dc:date>" not in a and b"<svg" in a


def test_plain_savefig_differs_between_processes(tmp_path):
    """The control: without afkit's fixed salt and metadata, two processes write different SVGs."""
    _save(tmp_path / "a", "plain")
    _save(tmp_path / "b", "plain")
    a = (tmp_path / "a" / "fig.svg").read_bytes()
    b = (tmp_path / "b" / "fig.svg").read_bytes()
    assert b"<dc:date>" in a
    assert a != b
