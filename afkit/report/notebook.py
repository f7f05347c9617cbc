"""What a notebook calls: its one :func:`setup` first, :func:`save_table` / :func:`save_result`
last.

Every notebook starts with ``ctx = notebook.setup(profile, data_dir=..., store_dir=...,
out_dir=..., seed=..., device=...)``, so that any notebook can run first and alone:
:func:`check_parameters` stops bad parameters with one sentence, the synthetic data and the
feature + frame store are made where missing, and the :class:`Context` returned names the
folders, the device and the data source.

Output convention (the notebooks follow it; :func:`paths` builds it)::

    OUT/
      figures/NAME.png, NAME.svg   afkit.viz.plots.save_figure(fig, NAME, paths(out_dir).figures)
      tables/NAME.csv              save_table(df, NAME, out_dir)   (one table, header row)
      results/NAME.json            save_result(NAME, data, out_dir, profile=..., seed=...)
      notebooks/NN_name.ipynb      the executed notebooks (with outputs; afkit.report.reproduce)
      logs/NN_name.log             papermill's output per notebook
      kernels/                     the kernel spec papermill uses (this interpreter)
      run.json                     run metadata (what the report is built from)
      REPORT.md, report.html, report.png

Names start with the notebook's number (``00_label_frequency``) so that figures of different
notebooks never collide; the report attributes each file to the notebook run that wrote it.

Every notebook ``notebooks/NN_*.ipynb`` (:func:`find_notebooks`) has a cell tagged
``parameters`` assigning the literals :data:`PARAMETERS`; :func:`notebooks_table` lists each
notebook's parameters (read by papermill), what ``python -m afkit notebooks`` prints.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime, timezone
from pathlib import Path

from afkit.core import provenance
from afkit.report.markup import markdown_table

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO / "notebooks"
NOTEBOOK_PATTERN = re.compile(r"^(\d\d)_[\w\-]+\.ipynb$")
PARAMETERS = ("profile", "data_dir", "store_dir", "out_dir", "seed", "device")
PROFILE_NAMES = ("smoke", "cpu", "paper")  # the three profiles of DESIGN.md


# ---------------------------------------------------------------------------- output convention
@dataclass(frozen=True)
class OutPaths:
    """The output folders of a reproduction run (see the module docstring)."""

    root: Path
    figures: Path
    tables: Path
    results: Path
    notebooks: Path
    logs: Path
    kernels: Path
    run_json: Path


def paths(out_dir, create: bool = True) -> OutPaths:
    """The output folders under ``out_dir``; ``create`` makes figures/, tables/ and results/."""
    root = Path(out_dir).expanduser().resolve()
    p = OutPaths(
        root=root,
        figures=root / "figures",
        tables=root / "tables",
        results=root / "results",
        notebooks=root / "notebooks",
        logs=root / "logs",
        kernels=root / "kernels",
        run_json=root / "run.json",
    )
    if create:
        for d in (p.figures, p.tables, p.results):
            d.mkdir(parents=True, exist_ok=True)
    return p


def _check_name(name: str) -> None:
    if not name or not re.fullmatch(r"[\w\-.]+", name) or name.startswith("."):
        raise ValueError(
            f"output name must be a plain file stem (letters, digits, _-.), got {name!r}"
        )


def save_table(df, name: str, out_dir) -> Path:
    """Writes ``df`` as ``OUT/tables/NAME.csv`` (no index column: reset it first to keep it)."""
    _check_name(name)
    if len(df.columns) == 0:
        raise ValueError(f"table {name!r} has no columns")
    path = paths(out_dir).tables / f"{name}.csv"
    df.to_csv(path, index=False)
    return path


def save_result(name: str, data: dict, out_dir, *, profile: str, seed: int, config=None) -> Path:
    """Writes ``OUT/results/NAME.json`` (atomically): ``data`` plus provenance (config, profile,
    seed, git SHA, versions, UTC time), as every afkit results file does."""
    _check_name(name)
    if is_dataclass(config):
        config = asdict(config)
    record = {
        "name": name,
        "profile": profile,
        "seed": seed,
        "config": config,
        "git_sha": provenance.git_sha(REPO),
        "versions": provenance.versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": data,
    }
    path = paths(out_dir).results / f"{name}.json"
    provenance.write_json(path, record)
    return path


def load_result(name: str, out_dir) -> dict | None:
    """The ``data`` of ``OUT/results/NAME.json`` (:func:`save_result`), or None when that
    result is absent or unreadable (e.g. notebook 04's comparison when 05 runs alone)."""
    _check_name(name)
    path = paths(out_dir, create=False).results / f"{name}.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    data = record.get("data") if isinstance(record, dict) else None
    return data if isinstance(data, dict) else None


# --------------------------------------------------------------------------- notebook setup
@dataclass(frozen=True)
class Context:
    """What a notebook's one setup call resolves (see :func:`setup`)."""

    profile: str
    seed: int
    device: str
    data_dir: Path
    store_dir: Path
    out_dir: Path
    out: OutPaths
    source: str  # "synthetic" or "real": every figure and table says which

    @property
    def evaluation(self) -> str:
        """The split every number is reported on: ``"test"``, or for a release whose test split
        has no labels validate's held-out part (:func:`afkit.data.store.evaluation_name`)."""
        from afkit.data import store

        return store.evaluation_name(self.store_dir)

    @property
    def runs_dir(self) -> Path:
        """Training runs of this reproduction (``OUT/runs/<run key>/seed<k>``,
        keyed by :mod:`afkit.studies.experiments`)."""
        return self.out_dir / "runs"

    def ground_truth_classes(self):
        """The synthetic set's per-class truth (``afkit.data.synth.load_ground_truth``), or None for
        a real release."""
        if self.source != "synthetic":
            return None
        from afkit.data import synth

        return synth.load_ground_truth(self.data_dir, "train")[0]


def setup(  # noqa: PLR0913  (the papermill parameters of every notebook, one by one)
    profile: str = "smoke",
    *,
    data_dir=None,
    store_dir=None,
    out_dir=None,
    seed: int = 0,
    device: str = "cpu",
    make_data: bool = True,
    build_store: bool = True,
) -> Context:
    """The one setup call of every notebook, so that any notebook can run first, alone.

    Resolves the folders (defaults as in ``python -m afkit reproduce``:
    ``data/generated/<profile>``, ``stores/<profile>``, ``out/<profile>``, relative to the
    repository); with the default ``data_dir=None`` makes the embedded synthetic data when missing;
    with ``build_store`` builds the feature store and frame store
    (``featurize.build(store_dir, data_dir, feature_set="mean_std", frames=True)``, what notebook 01
    builds) where it is missing, with a progress bar, and otherwise only confirms it (idempotent:
    seconds). Training runs are not made here: the notebooks train (or read back) their own through
    :mod:`afkit.studies.experiments`. Sets the figure style and seeds numpy, random and torch.

    Bad parameters stop here with one sentence saying what is wrong and what to pass
    (:func:`check_parameters`): an unknown profile (``ValueError``), a ``data_dir`` that does not
    exist (``FileNotFoundError``) or holds no release (``ValueError``), a store built from another
    vocabulary or other data (``ValueError``).
    """
    import random

    import numpy as np

    data, stores, out_root = check_parameters(
        profile, data_dir=data_dir, store_dir=store_dir, out_dir=out_dir, seed=seed, device=device
    )
    out = paths(out_root)
    source = ensure_data(data, profile, seed) if make_data else data_source(data)
    if build_store and source != "missing":
        _check_store(stores, data)
        from afkit.data import featurize
        from afkit.data.store import SPLITS

        frames = any(featurize.source_files(data, split, "frame") for split in SPLITS)
        if not frames:  # a video-level release: the means only (no MF+STD, no frame store)
            print(
                f"afkit: {data} has no frame-level files: building the video-level means only; "
                f"the notebooks that need frames or MF+STD need a release with frame/",
                flush=True,
            )
        featurize.build(
            stores,
            data,
            feature_set="mean_std" if frames else "mean",
            frames=frames,
            workers=featurize.useful_workers(2),  # a second process only on an idle core
        )
    from afkit.viz import plots

    plots.set_style()
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return Context(
        profile=profile,
        seed=seed,
        device=device,
        data_dir=data,
        store_dir=stores,
        out_dir=out.root,
        out=out,
        source=source,
    )


def default_dirs(profile: str) -> dict[str, Path]:
    """The folders a profile uses when none is given: ``data_dir`` (the embedded synthetic set),
    ``store_dir`` and ``out_dir``, under the repository."""
    return {
        "data_dir": REPO / "data" / "generated" / profile,
        "store_dir": REPO / "stores" / profile,
        "out_dir": REPO / "out" / profile,
    }


DEVICE_PATTERN = r"auto|cpu|mps|cuda(:\d+)?"


def check_parameters(
    profile, *, data_dir=None, store_dir=None, out_dir=None, seed=0, device="cpu"
) -> tuple[Path, Path, Path]:
    """The notebooks' ``profile``, ``seed``, ``device`` and folders checked and resolved:
    ``(data, store, out)``, before any work.

    Raises ``ValueError`` for an unknown profile, a seed that is not an integer in
    [0, 2^32), a device that is not ``auto``, ``cpu``, ``mps``, ``cuda`` or ``cuda:N``, or a
    ``data_dir`` that holds no YouTube-8M release (nor afkit's synthetic one),
    ``FileNotFoundError`` for a ``data_dir`` that does not exist; ``data_dir=None`` is the
    embedded synthetic set (made by :func:`setup` when missing).
    """
    import numbers

    if (
        not isinstance(seed, numbers.Integral)
        or isinstance(seed, bool)
        or not 0 <= int(seed) < 2**32
    ):
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    if not isinstance(device, str) or not re.fullmatch(DEVICE_PATTERN, device):
        raise ValueError(f"device must be 'auto', 'cpu', 'mps', 'cuda' or 'cuda:N', got {device!r}")
    if profile not in PROFILE_NAMES:
        raise ValueError(
            f"unknown profile {profile!r}: pass profile='smoke' (seconds), 'cpu' (the main run) "
            f"or 'paper' (the paper's sizes, real data)"
        )
    if data_dir is None or str(data_dir) == "":
        data = default_dirs(profile)["data_dir"].resolve()
    else:
        data = Path(data_dir).expanduser().resolve()
        if not data.exists():
            raise FileNotFoundError(
                f"data_dir {str(data)!r} does not exist: pass the folder of a YouTube-8M release "
                "(holding video/ or frame/ with the splits' .tfrecord files), or data_dir=None "
                "for the embedded synthetic set"
            )
        if not data.is_dir():
            raise ValueError(
                f"data_dir {str(data)!r} is a file, not a folder: pass the folder of a YouTube-8M "
                "release (holding video/ and frame/), or data_dir=None for the embedded synthetic "
                "set"
            )
        if data_source(data) == "missing":
            raise ValueError(
                f"data_dir {str(data)!r} is not a YouTube-8M release: it has no video/ or frame/ "
                f"files named train*, validate* or test*.tfrecord (flat, as the download script "
                "writes them, or one folder per split); pass the folder that holds video/ or "
                "frame/, or data_dir=None for the embedded synthetic set"
            )
    stores = Path(store_dir or default_dirs(profile)["store_dir"]).expanduser().resolve()
    if stores.exists() and not stores.is_dir():
        raise ValueError(
            f"store_dir {str(stores)!r} is a file, not a folder: pass a folder for the feature "
            f"store (an empty or missing one is built), or store_dir=None for stores/{profile}"
        )
    out = Path(out_dir or default_dirs(profile)["out_dir"]).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(
            f"out_dir {str(out)!r} is a file, not a folder: pass a folder for the outputs, "
            f"or out_dir=None for out/{profile}"
        )
    return data, stores, out


def _check_store(store_dir: Path, data_dir: Path) -> None:
    """A ``ValueError`` (one sentence) when ``store_dir`` holds a store of another vocabulary than
    ``data_dir``'s ``vocabulary.csv``, or one built from other source files."""
    from afkit.data import featurize
    from afkit.data.store import StoreError

    try:
        wanted, origin = featurize.class_count(data_dir)
    except StoreError as e:
        raise ValueError(
            f"data_dir {str(data_dir)!r} has an unreadable vocabulary ({e}); "
            f"fix or remove its vocabulary.csv"
        ) from None
    for manifest_path in sorted(Path(store_dir).glob("*/manifest.json")):
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # the store's own checks report a damaged manifest
        split = manifest_path.parent.name
        have = manifest.get("num_classes")
        if wanted is not None and have is not None and int(have) != wanted:
            raise ValueError(
                f"store_dir {str(store_dir)!r} holds a store of {have} classes ({split}), but "
                f"data_dir {str(data_dir)!r} has {wanted} ({origin}): pass the store_dir built "
                "from this data_dir, or a new folder (setup builds it)"
            )
        sources = {
            featurize.release_root(s["path"]) for s in manifest.get("sources", []) if s.get("path")
        }
        if sources and sources != {data_dir}:
            other = ", ".join(sorted(str(s) for s in sources))
            raise ValueError(
                f"store_dir {str(store_dir)!r} was built from {other}, not from data_dir "
                f"{str(data_dir)!r}: pass the store_dir built from this data_dir, or a new folder "
                "(setup builds it)"
            )


# ---------------------------------------------------------------------------------------- data
def data_source(data_dir) -> str:
    """``"synthetic"`` (afkit's generated set, complete or interrupted), ``"real"`` (release files
    without afkit's marks) or ``"missing"``."""
    d = Path(data_dir)
    # afkit.data.synth's marks: ground_truth/, synth_manifest.json (written last),
    # .synth_in_progress
    if (
        (d / "ground_truth").is_dir()
        or (d / "synth_manifest.json").exists()
        or (d / ".synth_in_progress").exists()
    ):
        return "synthetic"
    from afkit.io import records

    if records.release_layout(d) is not None:
        return "real"
    return "missing"


def ensure_data(data_dir: Path, profile: str, seed: int) -> str:
    """Generates the embedded synthetic set into ``data_dir`` unless it holds a real release;
    returns :func:`data_source` afterwards."""
    if data_source(data_dir) == "real":
        return "real"
    from afkit.data import synth  # lazy: only when the data must be made

    synth.ensure_dataset(data_dir, profile, seed)
    return data_source(data_dir)


# ------------------------------------------------------------------------ notebook parameters
def find_notebooks(notebooks_dir=NOTEBOOKS_DIR, select: str | None = None) -> list[Path]:
    """``NN_*.ipynb`` in ``notebooks_dir`` in name order; ``select`` = ``"00,02"`` keeps those
    numbers (an unknown number is an error)."""
    nb_dir = Path(notebooks_dir)
    if not nb_dir.is_dir():
        raise FileNotFoundError(f"notebooks directory {nb_dir} does not exist")
    found = sorted(p for p in nb_dir.iterdir() if NOTEBOOK_PATTERN.match(p.name))
    if select:
        wanted = [s.strip() for s in select.split(",") if s.strip()]
        by_number = {p.name[:2]: p for p in found}
        unknown = [
            w for w in wanted if w.zfill(2) not in by_number and w not in {p.stem for p in found}
        ]
        if unknown:
            raise ValueError(
                f"no notebook numbered {', '.join(unknown)} in {nb_dir}; have "
                f"{', '.join(p.stem for p in found) or 'none'}"
            )
        keep = {w.zfill(2) if w.zfill(2) in by_number else w for w in wanted}
        found = [p for p in found if p.name[:2] in keep or p.stem in keep]
    return found


def notebook_parameters(nb_path) -> list[dict]:
    """The parameters of a notebook's ``parameters`` cell, by ``papermill.inspect_notebook``:
    one dict each (``name``, ``type``, ``default``, ``help``), in the cell's order. ``type`` is
    papermill's inferred type where the cell annotates it, else that of the default literal
    (``path or None`` for a ``*_dir`` left at None)."""
    import papermill as pm

    rows = []
    for name, p in pm.inspect_notebook(str(nb_path)).items():
        default = p.get("default", "")
        kind = p.get("inferred_type_name") or "None"
        if kind == "None":
            try:
                value = ast.literal_eval(default)
            except (ValueError, SyntaxError):
                value = ...
            if value is None:
                kind = "path or None" if name.endswith("_dir") else "None"
            elif value is ...:
                kind = "expression"
            else:
                kind = type(value).__name__
        rows.append({"name": name, "type": kind, "default": default, "help": p.get("help", "")})
    return rows


def notebook_title(nb_path) -> str:
    """The first Markdown heading of a notebook (without the ``#``), or its stem."""
    import nbformat

    nb = nbformat.read(Path(nb_path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return Path(nb_path).stem


def notebooks_table(notebooks_dir=NOTEBOOKS_DIR, select: str | None = None):
    """One row per (notebook, parameter): ``notebook, title, parameter, type, default, help``."""
    import pandas as pd

    rows = []
    for nb in find_notebooks(notebooks_dir, select):
        title = notebook_title(nb)
        for p in notebook_parameters(nb):
            rows.append(
                {
                    "notebook": nb.stem,
                    "title": title,
                    "parameter": p["name"],
                    "type": p["type"],
                    "default": p["default"],
                    "help": p["help"],
                }
            )
    return pd.DataFrame(rows, columns=["notebook", "title", "parameter", "type", "default", "help"])


def notebooks_main(argv=None) -> int:
    """``python -m afkit notebooks``: every notebook with its parameters, types and defaults."""
    ap = argparse.ArgumentParser(
        prog="python -m afkit notebooks",
        description="List every notebook with the parameters of its `parameters` cell "
        "(read by papermill.inspect_notebook): name, type, default, help. "
        "Pass them to papermill with -p NAME VALUE.",
    )
    ap.add_argument(
        "--notebooks-dir",
        default=str(NOTEBOOKS_DIR),
        help="folder of NN_*.ipynb (default: notebooks/)",
    )
    ap.add_argument(
        "--notebooks", default=None, help="comma-separated numbers, e.g. 04,08 (default: all)"
    )
    ap.add_argument(
        "--markdown", action="store_true", help="a Markdown table instead of plain text"
    )
    args = ap.parse_args(argv)
    try:
        table = notebooks_table(args.notebooks_dir, args.notebooks)
    except (FileNotFoundError, ValueError) as e:
        print(f"notebooks: {e}", file=sys.stderr)
        return 2
    if args.markdown:
        print(markdown_table(table.drop(columns=["title"]), max_rows=len(table) + 1))
        return 0
    columns = ["parameter", "type", "default", "help"]
    widths = {c: max([len(c)] + [len(str(v)) for v in table[c]]) for c in columns[:-1]}
    for stem, g in table.groupby("notebook", sort=True):
        print(f"{stem}: {g['title'].iloc[0]}")
        print("  " + "  ".join(f"{c:<{widths[c]}}" for c in columns[:-1]) + "  help")
        for _, r in g.iterrows():
            print(
                "  "
                + "  ".join(f"{str(r[c]):<{widths[c]}}" for c in columns[:-1])
                + f"  {r['help']}"
            )
        print()
    print(
        "Run one with papermill: papermill notebooks/NN_name.ipynb out.ipynb -p profile smoke -p "
        "data_dir DATA ..."
    )
    return 0
