"""``python -m afkit notebooks``: every notebook with the parameters of its ``parameters`` cell
(read by papermill), their types and defaults."""

import subprocess
import sys

from afkit.report import notebook


def test_parameters_of_one_notebook():
    rows = {
        r["name"]: r
        for r in notebook.notebook_parameters(notebook.NOTEBOOKS_DIR / "01_features.ipynb")
    }
    assert list(rows)[:6] == list(notebook.PARAMETERS)  # in the cell's order
    assert (rows["profile"]["type"], rows["profile"]["default"]) == ("str", '"smoke"')
    assert (rows["seed"]["type"], rows["seed"]["default"]) == ("int", "0")
    assert (rows["data_dir"]["type"], rows["data_dir"]["default"]) == ("path or None", "None")
    assert (rows["build_frames"]["type"], rows["build_frames"]["default"]) == ("bool", "True")
    assert (rows["workers"]["type"], rows["workers"]["default"]) == ("int", "2")
    assert "real release" in rows["data_dir"]["help"]  # the cell's comment


def test_command_lists_every_notebook_and_parameter(capsys):
    assert notebook.notebooks_main([]) == 0
    text = capsys.readouterr().out
    table = notebook.notebooks_table()
    for nb in notebook.find_notebooks():
        assert f"{nb.stem}: {notebook.notebook_title(nb)}" in text
        names = set(table.loc[table["notebook"] == nb.stem, "parameter"])
        assert set(notebook.PARAMETERS) <= names
    assert "n_boot" in set(table.loc[table["notebook"] == "04_comparison", "parameter"])
    assert "frame_limit" in set(table.loc[table["notebook"] == "00_data", "parameter"])
    assert "papermill notebooks/NN_name.ipynb" in text


def test_command_line_markdown_and_errors():
    proc = subprocess.run(
        [sys.executable, "-m", "afkit", "notebooks", "--notebooks", "04", "--markdown"],
        capture_output=True,
        text=True,
        cwd=notebook.REPO,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "| notebook | parameter | type | default | help |"
    assert "| 04_comparison | n_boot | int | 1000 | bootstrap resamples |" in lines
    bad = subprocess.run(
        [sys.executable, "-m", "afkit", "notebooks", "--notebooks", "42"],
        capture_output=True,
        text=True,
        cwd=notebook.REPO,
    )
    assert bad.returncode == 2 and "no notebook numbered 42" in bad.stderr
