"""One command reproduces everything: papermill over ``notebooks/``, then a report.

``python -m afkit reproduce --profile cpu`` (see :func:`main`):

1. makes sure the data exist: the embedded synthetic set is generated into ``--data-dir`` (by
   ``afkit.synth.ensure_dataset``) unless that directory already holds a real release;
2. runs every ``notebooks/NN_*.ipynb`` in name order with papermill (one subprocess per notebook,
   a kernel spec pointing at this very interpreter, ``--timeout`` seconds per notebook), with a
   progress bar over notebooks; the executed copies go to ``OUT/notebooks/``. A failed notebook
   is reported by name and cell and the others still run; the command exits 1 if any failed;
3. writes ``OUT/run.json`` (git SHA, ``tree_clean``, ``source_hash`` of afkit/ + notebooks/,
   ``code_hash``, profile, seed, machine, total seconds, ``reused_runs`` / ``trained_runs``,
   seconds and status per notebook, the files each notebook wrote) and the report (built by
   :mod:`afkit.report`) ``OUT/REPORT.md`` + ``OUT/report.html`` (+ a screenshot of its first
   screen, ``OUT/report.png``, where chromium is installed);
4. with ``--publish`` (the default for the ``cpu`` profile) copies the figures to the repository's
   ``figures/`` and the report to ``report/``, the rendered results readers see on GitHub.

Output convention (the notebooks follow it; :func:`paths` builds it)::

    OUT/
      figures/NAME.png, NAME.svg   afkit.plots.save_figure(fig, NAME, paths(out_dir).figures)
      tables/NAME.csv              save_table(df, NAME, out_dir)   (one table, header row)
      results/NAME.json            save_result(NAME, data, out_dir, profile=..., seed=...)
      notebooks/NN_name.ipynb      the executed notebooks (with outputs)
      logs/NN_name.log             papermill's output per notebook
      kernels/                     the kernel spec papermill uses (this interpreter)
      run.json                     run metadata (what the report is built from)
      REPORT.md, report.html, report.png

Names start with the notebook's number (``00_label_frequency``) so that figures of different
notebooks never collide; the report attributes each file to the notebook run that wrote it.

Every notebook has a cell tagged ``parameters`` assigning the literals ``profile``, ``data_dir``,
``store_dir``, ``out_dir``, ``seed``, ``device``; papermill injects this command's values after it.
:func:`check_notebook` enforces that and the repository's rules (stored without outputs, no
function or class defined in a notebook).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

# the report lives in afkit.report; re-exported here for the callers of reproduce.build_report & co.
from afkit.report import (  # noqa: E402,F401
    _CSS, FIGURE_FORMATS, TABLE_ROWS_SHOWN, _banner, _fmt, _html_table, _inline_code, _markdown_table, _seconds,
    build_report, check_report_in_browser, find_chromium, screenshot_report, timing_line)

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO / "notebooks"
PARAMETERS = ("profile", "data_dir", "store_dir", "out_dir", "seed", "device")
KERNEL_NAME = "afkit-python3"
NOTEBOOK_PATTERN = re.compile(r"^(\d\d)_[\w\-]+\.ipynb$")


@dataclass(frozen=True)
class ReproduceProfile:
    """Run settings per profile."""

    timeout_s: float | None  # per notebook, wall clock; None = no limit
    publish: bool            # copy figures to figures/ and the report to report/
    device: str              # the notebooks' `device` parameter


PROFILES = {
    "smoke": ReproduceProfile(timeout_s=600, publish=False, device="cpu"),
    "cpu": ReproduceProfile(timeout_s=1800, publish=True, device="cpu"),
    "paper": ReproduceProfile(timeout_s=None, publish=False, device="auto"),
}


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
    p = OutPaths(root=root, figures=root / "figures", tables=root / "tables",
                 results=root / "results", notebooks=root / "notebooks", logs=root / "logs",
                 kernels=root / "kernels", run_json=root / "run.json")
    if create:
        for d in (p.figures, p.tables, p.results):
            d.mkdir(parents=True, exist_ok=True)
    return p


def _check_name(name: str) -> None:
    if not name or not re.fullmatch(r"[\w\-.]+", name) or name.startswith("."):
        raise ValueError(f"output name must be a plain file stem (letters, digits, _-.), got {name!r}")


def save_table(df, name: str, out_dir) -> Path:
    """Writes ``df`` as ``OUT/tables/NAME.csv`` (no index column: reset it first to keep it)."""
    _check_name(name)
    if len(df.columns) == 0:
        raise ValueError(f"table {name!r} has no columns")
    path = paths(out_dir).tables / f"{name}.csv"
    df.to_csv(path, index=False)
    return path


def save_result(name: str, data: dict, out_dir, *, profile: str, seed: int, config=None) -> Path:
    """Writes ``OUT/results/NAME.json``: ``data`` plus provenance (config, profile, seed, git SHA,
    versions, UTC time), as every afkit results file does."""
    _check_name(name)
    from dataclasses import asdict, is_dataclass

    from afkit.provenance import git_sha, versions

    if is_dataclass(config):
        config = asdict(config)
    record = {"name": name, "profile": profile, "seed": seed, "config": config,
              "git_sha": git_sha(REPO), "versions": versions(),
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "data": data}
    path = paths(out_dir).results / f"{name}.json"
    path.write_text(json.dumps(record, indent=2, default=_json_default) + "\n")
    return path


def _json_default(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


# ------------------------------------------------------------------------------------ notebooks
def find_notebooks(notebooks_dir=NOTEBOOKS_DIR, select: str | None = None) -> list[Path]:
    """``NN_*.ipynb`` in ``notebooks_dir`` in name order; ``select`` = ``"00,02"`` keeps those numbers
    (an unknown number is an error)."""
    nb_dir = Path(notebooks_dir)
    if not nb_dir.is_dir():
        raise FileNotFoundError(f"notebooks directory {nb_dir} does not exist")
    found = sorted(p for p in nb_dir.iterdir() if NOTEBOOK_PATTERN.match(p.name))
    if select:
        wanted = [s.strip() for s in select.split(",") if s.strip()]
        by_number = {p.name[:2]: p for p in found}
        unknown = [w for w in wanted if w.zfill(2) not in by_number and w not in {p.stem for p in found}]
        if unknown:
            raise ValueError(f"no notebook numbered {', '.join(unknown)} in {nb_dir}; have "
                             f"{', '.join(p.stem for p in found) or 'none'}")
        keep = {w.zfill(2) if w.zfill(2) in by_number else w for w in wanted}
        found = [p for p in found if p.name[:2] in keep or p.stem in keep]
    return found


def check_notebook(path) -> list[str]:
    """The rule violations of a stored notebook (an empty list when it is clean).

    Rules: no outputs and no execution counts in code cells; exactly one cell tagged
    ``parameters`` that assigns each of :data:`PARAMETERS` a literal; no ``def``/``class``
    anywhere (IPython magics and shell lines are ignored); every code cell parses.
    """
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    problems = []
    param_cells = []
    for i, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"{path.name}: cell {i} is stored with outputs")
        if cell.get("execution_count") is not None:
            problems.append(f"{path.name}: cell {i} is stored with an execution count")
        source = "\n".join("pass" if line.lstrip().startswith(("%", "!")) else line
                           for line in cell.source.splitlines())
        try:
            tree = ast.parse(source)
        except SyntaxError as e:
            problems.append(f"{path.name}: cell {i} does not parse: {e.msg} (line {e.lineno})")
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                problems.append(f"{path.name}: cell {i} defines {kind} {node.name!r}")
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            param_cells.append((i, tree))
    if len(param_cells) != 1:
        problems.append(f"{path.name}: needs exactly one cell tagged 'parameters', has {len(param_cells)}")
    else:
        i, tree = param_cells[0]
        assigned = {}
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, ast.AnnAssign) and node.value is not None else []
            for t in targets:
                if isinstance(t, ast.Name):
                    try:
                        assigned[t.id] = ast.literal_eval(node.value)
                    except ValueError:
                        problems.append(f"{path.name}: parameter {t.id!r} (cell {i}) is not a literal")
                        assigned[t.id] = None
        missing = [k for k in PARAMETERS if k not in assigned]
        if missing:
            problems.append(f"{path.name}: parameters cell {i} lacks {', '.join(missing)}")
    return problems


def write_kernelspec(kernels_dir) -> Path:
    """Writes a Jupyter kernel spec ``afkit-python3`` that runs ``sys.executable``; returns the
    folder to put on ``JUPYTER_PATH`` (specs live in ``<it>/kernels/<name>/kernel.json``)."""
    kernels_dir = Path(kernels_dir)
    spec_dir = kernels_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": f"afkit ({Path(sys.executable).parent.parent.name} python)",
            "language": "python", "metadata": {"debugger": False}}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
    return kernels_dir


def _child_main(job_path: str) -> int:
    """Runs one notebook with papermill (in a subprocess of :func:`run_notebook`); writes the
    outcome as JSON next to the job file."""
    job = json.loads(Path(job_path).read_text())
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    outcome: dict = {"status": "ok"}
    try:
        pm.execute_notebook(job["input"], job["output"], parameters=job["parameters"],
                            kernel_name=job["kernel_name"], cwd=job["cwd"], progress_bar=False,
                            log_output=True, request_save_on_cell_execute=True)
    except PapermillExecutionError as e:
        outcome = {"status": "failed", "cell_index": e.cell_index, "exec_count": e.exec_count,
                   "source": e.source, "ename": e.ename, "evalue": e.evalue}
    except Exception as e:  # kernel death, missing parameters, unreadable notebook
        outcome = {"status": "failed", "cell_index": None, "exec_count": None, "source": None,
                   "ename": type(e).__name__, "evalue": str(e)}
    Path(job["outcome"]).write_text(json.dumps(outcome))
    return 0


def _descendants(pid: int) -> list[int]:
    """Process ids below ``pid`` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _kill_tree(proc: subprocess.Popen) -> None:
    for pid in [proc.pid] + _descendants(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    proc.wait()


def _source_cell(nb_path: Path, source: str | None, fallback: int | None) -> tuple[int | None, str]:
    """(1-based cell number in the stored notebook, its first line) of the failing source."""
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    if source is not None:
        for i, cell in enumerate(nb.cells, start=1):
            if cell.cell_type == "code" and cell.source.strip() == source.strip():
                first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
                return i, first.strip()
    return (fallback + 1 if fallback is not None else None), ""


def run_notebook(nb_path, out: OutPaths, parameters: dict, timeout_s: float | None = None,
                 jupyter_path=None) -> dict:
    """Executes one notebook with papermill in a subprocess; returns its run record.

    The record: ``name``, ``status`` (``ok`` / ``failed`` / ``timeout``), ``seconds``,
    ``output`` and ``log`` (relative to OUT), and for a failure ``error`` = ``{cell, exec_count,
    ename, evalue, first_line}`` with ``cell`` the 1-based cell number in the stored notebook.
    """
    nb_path = Path(nb_path).resolve()
    out.notebooks.mkdir(parents=True, exist_ok=True)
    out.logs.mkdir(parents=True, exist_ok=True)
    output = out.notebooks / nb_path.name
    log = out.logs / f"{nb_path.stem}.log"
    env = dict(os.environ)
    if jupyter_path is not None:
        env["JUPYTER_PATH"] = os.pathsep.join(
            [str(jupyter_path)] + ([env["JUPYTER_PATH"]] if env.get("JUPYTER_PATH") else []))
    env.setdefault("PYTHONHASHSEED", "0")
    # the kernel imports the afkit of this repository (not another checkout's editable install)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    with tempfile.TemporaryDirectory(prefix="afkit-nb-") as tmp:
        job = Path(tmp) / "job.json"
        outcome_path = Path(tmp) / "outcome.json"
        job.write_text(json.dumps({"input": str(nb_path), "output": str(output),
                                   "parameters": parameters, "kernel_name": KERNEL_NAME,
                                   "cwd": str(nb_path.parent), "outcome": str(outcome_path)}))
        cmd = [sys.executable, "-c",
               "import sys; from afkit.reproduce import _child_main; sys.exit(_child_main(sys.argv[1]))",
               str(job)]
        start = time.perf_counter()
        with open(log, "w") as log_f:
            proc = subprocess.Popen(cmd, stdout=log_f, stderr=subprocess.STDOUT, env=env,
                                    cwd=str(nb_path.parent))
            try:
                proc.wait(timeout=timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                _kill_tree(proc)
                timed_out = True
        seconds = time.perf_counter() - start
        record = {"name": nb_path.stem, "input": str(nb_path), "seconds": round(seconds, 2),
                  "output": str(output.relative_to(out.root)), "log": str(log.relative_to(out.root))}
        if timed_out:
            record["status"] = "timeout"
            record["error"] = {"cell": None, "exec_count": None, "ename": "Timeout",
                               "evalue": f"notebook ran past {timeout_s:g} s and was stopped",
                               "first_line": ""}
            return record
        if not outcome_path.exists():
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            record["status"] = "failed"
            record["error"] = {"cell": None, "exec_count": None, "ename": "RunnerError",
                               "evalue": f"papermill exited {proc.returncode}: {tail[0]}",
                               "first_line": ""}
            return record
        outcome = json.loads(outcome_path.read_text())
    record["status"] = outcome["status"]
    if outcome["status"] != "ok":
        cell, first = _source_cell(nb_path, outcome.get("source"), outcome.get("cell_index"))
        record["error"] = {"cell": cell, "exec_count": outcome.get("exec_count"),
                           "ename": outcome["ename"], "evalue": outcome["evalue"], "first_line": first}
    return record


def describe_failure(record: dict) -> str:
    """One line naming the notebook, the cell and the error of a failed run record."""
    e = record["error"]
    where = f"cell {e['cell']}" if e.get("cell") else "before any cell ran"
    if e.get("exec_count"):
        where += f" (In [{e['exec_count']}])"
    first = f" `{e['first_line']}`" if e.get("first_line") else ""
    return f"{record['name']}: {record['status']} at {where}{first}: {e['ename']}: {e['evalue']}"


def _snapshot(out: OutPaths) -> dict[str, tuple[int, int]]:
    snap = {}
    for d in (out.figures, out.tables, out.results):
        if d.is_dir():
            for f in d.iterdir():
                if f.is_file():
                    st = f.stat()
                    snap[str(f.relative_to(out.root))] = (st.st_mtime_ns, st.st_size)
    return snap


# ------------------------------------------------------------------------------------- metadata
def data_source(data_dir) -> str:
    """``"synthetic"`` (afkit's generated set, complete or interrupted), ``"real"`` (release files
    without afkit's marks) or ``"missing"``."""
    d = Path(data_dir)
    # afkit.synth's marks: ground_truth/, synth_manifest.json (written last), .synth_in_progress
    if (d / "ground_truth").is_dir() or (d / "synth_manifest.json").exists() or (d / ".synth_in_progress").exists():
        return "synthetic"
    if any((d / sub).is_dir() and any((d / sub).glob("*.tfrecord")) for sub in ("video", "frame")):
        return "real"
    return "missing"


def machine() -> dict:
    """Host facts for the report: OS, CPU, cores, memory, Python, package versions."""
    from importlib.metadata import PackageNotFoundError, version

    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    cpu = platform.processor() or ""
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), cpu)
    except OSError:
        pass
    versions = {}
    for pkg in ("afkit", "torch", "numpy", "pandas", "matplotlib", "papermill"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = "not installed"
    gpu = None
    try:
        q = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=10)
        if q.returncode == 0:
            gpu = ", ".join(ln.strip() for ln in q.stdout.splitlines() if ln.strip()) or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"os": platform.platform(), "cpu": cpu, "cores": os.cpu_count(), "memory": mem,
            "gpu": gpu, "python": platform.python_version(), "versions": versions}


def _git_sha() -> str | None:
    try:
        from afkit.provenance import git_sha
    except Exception:  # torch missing: report without it rather than fail the run
        return None
    return git_sha(REPO)


def regenerate_command(meta: dict, notebook: str | None = None) -> str:
    """The command that regenerates a notebook's outputs (or the whole run)."""
    cmd = f"python -m afkit reproduce --profile {meta.get('profile', 'cpu')}"
    if notebook:
        cmd += f" --notebooks {notebook[:2]}"
    if meta.get("seed") is not None and meta.get("seed") != 0:
        cmd += f" --seed {meta['seed']}"
    for key, flag in (("data_dir", "--data-dir"), ("out_dir", "--out"), ("notebooks_dir", "--notebooks-dir")):
        value, default = meta.get(key), meta.get(f"default_{key}")
        if value and value != default:
            cmd += f" {flag} {_rel(value)}"
    return cmd


def _rel(p) -> str:
    try:
        return str(Path(p).resolve().relative_to(REPO))
    except ValueError:
        return str(p)


# ------------------------------------------------------------------------------------------ main
def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m afkit reproduce",
        description="Run every notebook with papermill and build the report (Markdown + HTML).")
    ap.add_argument("--profile", default="cpu", choices=sorted(PROFILES),
                    help="smoke (seconds, tests), cpu (the main run, <= 30 min on 2 cores), paper (GPU, real data)")
    ap.add_argument("--out", default=None, help="output folder (default: out/<profile>)")
    ap.add_argument("--data-dir", default=None,
                    help="data folder; the synthetic set is generated there unless it holds a real "
                         "release (default: data/generated/<profile>)")
    ap.add_argument("--store-dir", default=None, help="feature store folder (default: stores/<profile>)")
    ap.add_argument("--notebooks", default=None, help="comma-separated numbers to run, e.g. 00,02 (default: all)")
    ap.add_argument("--notebooks-dir", default=str(NOTEBOOKS_DIR), help="folder of NN_*.ipynb (default: notebooks/)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None, help="the notebooks' device parameter (default per profile)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds per notebook before it is stopped (default per profile: smoke 600, cpu 1800, paper none)")
    ap.add_argument("--publish", dest="publish", action="store_true", default=None,
                    help="copy figures to figures/ and the report to report/ (default for cpu)")
    ap.add_argument("--no-publish", dest="publish", action="store_false")
    ap.add_argument("--publish-dir", default=str(REPO), help="where figures/ and report/ are published (default: the repository)")
    ap.add_argument("--no-screenshot", action="store_true", help="skip the chromium screenshot of the report")
    return ap


def ensure_data(data_dir: Path, profile: str, seed: int) -> str:
    """Generates the embedded synthetic set into ``data_dir`` unless it holds a real release;
    returns :func:`data_source` afterwards."""
    if data_source(data_dir) == "real":
        return "real"
    from afkit import synth  # lazy: only when the data must be made

    synth.ensure_dataset(data_dir, profile, seed)
    return data_source(data_dir)


def publish(out_dir, publish_dir) -> tuple[Path, Path]:
    """Copies ``OUT/figures/*`` to ``PUBLISH/figures/``, ``OUT/results/*.json``,
    ``OUT/tables/*.csv`` and ``run.json`` to ``PUBLISH/report/``, writes the report (linking those
    figures) there, and regenerates the results section of ``PUBLISH/README.md`` (between its
    markers) from the copied results; returns the report's (md, html) paths."""
    out = paths(out_dir, create=False)
    pub = Path(publish_dir).resolve()
    figs = pub / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    for f in sorted(out.figures.glob("*")):
        if f.is_file():
            shutil.copy2(f, figs / f.name)
    report = pub / "report"
    for sub, pattern in (("results", "*.json"), ("tables", "*.csv")):
        (report / sub).mkdir(parents=True, exist_ok=True)
        for f in sorted((out.root / sub).glob(pattern)):
            shutil.copy2(f, report / sub / f.name)
    if out.run_json.exists():
        shutil.copy2(out.run_json, report / "run.json")
        meta = json.loads(out.run_json.read_text())
        if meta.get("reused_runs") == 0 and meta.get("trained_runs"):
            shutil.copy2(out.run_json, report / SCRATCH_RUN)  # a from-scratch time, kept
    paths_ = build_report(out.root, dest_dir=report, figures_dir=figs, link_notebooks=False)
    readme = pub / "README.md"
    if readme.exists():
        readme.write_text(update_readme(readme.read_text(), report))
    return paths_


# the run.json of the last from-scratch invocation, kept beside the report when a later
# invocation reads its training runs back (the README cites both times)
SCRATCH_RUN = "run_from_scratch.json"
README_START = "<!-- results:start (generated by python -m afkit reproduce --profile cpu; do not edit) -->"
README_END = "<!-- results:end -->"


def results_markdown(report_dir) -> str:
    """The README's results section, from a published report's ``results/`` and ``run.json``:
    the headline comparison on the test split (ours, with the paper's numbers in separate
    columns), the two paired tests, notebook 04's computed answer, the command, time and
    machine that produced it, and the headline figures."""
    import pandas as pd

    report_dir = Path(report_dir)
    res = json.loads((report_dir / "results" / "04_comparison.json").read_text())
    run = json.loads((report_dir / "run.json").read_text()) if (report_dir / "run.json").exists() else {}
    data = res["data"]
    summary = pd.DataFrame(data["summary"])
    synthetic = run.get("data_source", "synthetic") == "synthetic"
    from afkit.report import timing_line

    scratch = report_dir / SCRATCH_RUN
    scratch_line = (f"From scratch (every training run trained; kept as [report/{SCRATCH_RUN}]"
                    f"(report/{SCRATCH_RUN})): {timing_line(scratch)} "
                    if scratch.exists() else "")
    lines = [
        f"{scratch_line}{timing_line(run)} Profile `{res['profile']}`, git `{str(res.get('git_sha'))[:12]}`; "
        f"per-notebook times in [report/run.json](report/run.json). **Data: "
        f"{'the embedded synthetic set, not YouTube-8M' if synthetic else 'the real release'}.** "
        f"Protocol: {data.get('protocol', 'see afkit/protocol.py')}. Ours: test split, mean ± std over "
        f"the seeds shown; the paper's columns are the paper's own numbers on the real data.",
        "",
        "| model | params (ours) | params (paper size) | lr | seeds | GAP % (ours) | micro-F1 % (ours, validate threshold) | micro-F1 % at 0.5 | learned | F1 % (paper) | params (paper) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|:-:|---:|---:|",
    ]
    for _, r in summary.iterrows():
        pf = "" if pd.isna(r.get("paper_f1_pct")) else f"{r['paper_f1_pct']:.2f}"
        pp = "" if pd.isna(r.get("paper_reported_params")) else f"{r['paper_reported_params'] / 1e6:.0f}M"
        lines.append(
            f"| {r['label']} | {int(r['params']):,} | {int(r['paper_params']):,} | {r['lr']:g} | {int(r['seeds'])} | "
            f"{100 * r['gap_mean']:.2f} ± {100 * r['gap_std']:.2f} | "
            f"{100 * r['micro_f1_tuned_mean']:.2f} ± {100 * r['micro_f1_tuned_std']:.2f} | "
            f"{100 * r['micro_f1_mean']:.2f} | {'yes' if r.get('learned', True) else '**no**'} | {pf} | {pp} |")
    lines += ["", "Paired bootstraps on the test videos (difference in points, 95% interval):", "",
              "| pair | GAP | micro-F1 (validate threshold) | micro-F1 at 0.5 |", "|---|---:|---:|---:|"]
    for ci in (data["bootstrap"], data["bootstrap_matched"]):
        cells = [f"{100 * ci[f'{k}_diff']:+.2f} [{100 * ci[f'{k}_lo']:+.2f}, {100 * ci[f'{k}_hi']:+.2f}]"
                 for k in ("gap", "micro_f1", "micro_f1_05")]
        lines.append(f"| {ci['a']} − {ci['b']} | " + " | ".join(cells) + " |")
    lines += ["", data.get("answer", ""), ""]
    for name, caption in (("04_comparison_f1", "micro-F1 per model, test split (synthetic data; the paper's two values as stars)"),
                          ("06_pareto_params", "attention configurations: test GAP against parameters"),
                          ("10_readings_gap_vs_params", "the readings of the paper's attention: test GAP against parameters")):
        if (report_dir.parent / "figures" / f"{name}.png").exists() or not (report_dir.parent / "figures").exists():
            lines.append(f"![{caption}](figures/{name}.png)")
    lines += ["", "Every table and figure, with the command that regenerates it: [report/REPORT.md](report/REPORT.md)."]
    return "\n".join(lines)


def update_readme(text: str, report_dir) -> str:
    """``text`` with the part between :data:`README_START` and :data:`README_END` replaced by
    :func:`results_markdown` (an error if the markers are missing)."""
    if README_START not in text or README_END not in text:
        raise ValueError("README has no results markers")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    return f"{head}{README_START}\n{results_markdown(report_dir)}\n{README_END}{tail}"


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    prof = PROFILES[args.profile]
    defaults = {"out_dir": REPO / "out" / args.profile, "data_dir": REPO / "data" / "generated" / args.profile,
                "store_dir": REPO / "stores" / args.profile}
    out = paths(args.out or defaults["out_dir"])
    data_dir = Path(args.data_dir or defaults["data_dir"]).expanduser().resolve()
    store_dir = Path(args.store_dir or defaults["store_dir"]).expanduser().resolve()
    device = args.device or prof.device
    timeout = args.timeout if args.timeout is not None else prof.timeout_s
    if timeout is not None and timeout <= 0:
        raise SystemExit(f"--timeout must be positive, got {timeout}")
    do_publish = prof.publish if args.publish is None else args.publish
    notebooks = find_notebooks(args.notebooks_dir, args.notebooks)
    if not notebooks:
        print(f"reproduce: no NN_*.ipynb notebooks in {args.notebooks_dir}", file=sys.stderr)
        return 1

    from tqdm.auto import tqdm

    from afkit import provenance
    from afkit.report import count_reuse, run_folders

    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    runs_before = run_folders(out.root)
    source_files = provenance.source_files(REPO)
    print(f"reproduce: profile {args.profile}, seed {args.seed}, {len(notebooks)} notebook(s) -> {out.root}")
    source = ensure_data(data_dir, args.profile, args.seed)
    print(f"reproduce: data {source} at {data_dir}")
    jupyter_path = write_kernelspec(out.kernels)
    parameters = {"profile": args.profile, "data_dir": str(data_dir), "store_dir": str(store_dir),
                  "out_dir": str(out.root), "seed": args.seed, "device": device}

    previous = json.loads(out.run_json.read_text()).get("notebooks", {}) if out.run_json.exists() else {}
    records = {k: v for k, v in previous.items() if (Path(args.notebooks_dir) / f"{k}.ipynb").exists()}
    failures = []
    bar = tqdm(notebooks, desc="notebooks", unit="nb", dynamic_ncols=True)
    for nb in bar:
        bar.set_postfix_str(nb.stem)
        before = _snapshot(out)
        rec = run_notebook(nb, out, parameters, timeout, jupyter_path)
        after = _snapshot(out)
        rec["outputs"] = sorted(f for f, sig in after.items() if before.get(f) != sig)
        records[nb.stem] = rec
        if rec["status"] != "ok":
            failures.append(rec)
            tqdm.write(f"FAILED {describe_failure(rec)} (log: {out.root / rec['log']})")
        else:
            tqdm.write(f"ok     {nb.stem} ({rec['seconds']:.1f} s, {len(rec['outputs'])} file(s))")
    bar.close()

    meta = {"profile": args.profile, "seed": args.seed, "device": device, "data_dir": str(data_dir),
            "store_dir": str(store_dir), "out_dir": str(out.root), "data_source": source,
            "default_data_dir": str(defaults["data_dir"]), "default_out_dir": str(defaults["out_dir"]),
            "notebooks_dir": str(Path(args.notebooks_dir).resolve()), "default_notebooks_dir": str(NOTEBOOKS_DIR),
            "git_sha": _git_sha(), "started": started.isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - t0, 1), "machine": machine(),
            "command": "python -m afkit reproduce " + " ".join(argv if argv is not None else sys.argv[1:]),
            "notebooks": records}
    # provenance that cannot drift: python -m afkit check-report compares it with the tree
    sha = meta["git_sha"]
    unchanged = provenance.source_files(REPO) == source_files
    meta["tree_clean"] = bool(sha) and not sha.endswith("+dirty") and unchanged
    meta["source_changed_during_run"] = not unchanged
    meta["source_hash"] = provenance.source_hash(files=source_files)  # the files the notebooks ran
    meta["source_files"] = source_files
    meta["code_hash"] = provenance.code_hash()
    meta["reused_runs"], meta["trained_runs"] = count_reuse(runs_before, run_folders(out.root))
    out.run_json.write_text(json.dumps(meta, indent=2) + "\n")
    md_path, html_path = build_report(out.root)
    print(f"reproduce: report {md_path} and {html_path}")
    if not args.no_screenshot:
        try:
            print(f"reproduce: screenshot {screenshot_report(html_path)}")
        except (FileNotFoundError, RuntimeError, TimeoutError) as e:
            print(f"reproduce: no screenshot ({e})", file=sys.stderr)
    if do_publish:
        pub_md, pub_html = publish(out.root, args.publish_dir)
        if not args.no_screenshot and find_chromium():
            try:
                screenshot_report(pub_html)
            except (RuntimeError, TimeoutError) as e:
                print(f"reproduce: no screenshot of the published report ({e})", file=sys.stderr)
        print(f"reproduce: published figures to {Path(args.publish_dir) / 'figures'} and the report to {pub_md.parent}")
    if failures:
        print(f"reproduce: {len(failures)} of {len(notebooks)} notebook(s) failed:", file=sys.stderr)
        for rec in failures:
            print(f"  {describe_failure(rec)}", file=sys.stderr)
        return 1
    print(f"reproduce: all {len(notebooks)} notebook(s) ran in {_seconds(meta['seconds'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


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
    def runs_dir(self) -> Path:
        """Training runs of this reproduction (``OUT/runs/<label>/seed<k>``)."""
        return self.out_dir / "runs"

    def ground_truth_classes(self):
        """The synthetic set's per-class truth (``afkit.synth.load_ground_truth``), or None for
        a real release."""
        if self.source != "synthetic":
            return None
        from afkit import synth

        return synth.load_ground_truth(self.data_dir, "train")[0]


def setup(profile: str = "smoke", *, data_dir=None, store_dir=None, out_dir=None, seed: int = 0,
          device: str = "cpu", make_data: bool = True, build_store: bool = True) -> Context:
    """The one setup call of every notebook, so that any notebook can run first, alone.

    Resolves the folders (defaults as in ``python -m afkit reproduce``: ``data/generated/<profile>``,
    ``stores/<profile>``, ``out/<profile>``, relative to the repository); with the default
    ``data_dir=None`` makes the embedded synthetic data when missing; with ``build_store`` builds
    the feature store and frame store (``featurize.build(store_dir, data_dir, feature_set="mean_std",
    frames=True)``, what notebook 01 builds) where it is missing, with a progress bar, and
    otherwise only confirms it (idempotent: seconds). Training runs are not made here: the
    notebooks train (or read back) their own through :mod:`afkit.experiments`. Sets the figure
    style and seeds numpy, random and torch.

    Bad parameters stop here with one sentence saying what is wrong and what to pass
    (:func:`check_parameters`): an unknown profile (``ValueError``), a ``data_dir`` that does not
    exist (``FileNotFoundError``) or holds no release (``ValueError``), a store built from another
    vocabulary or other data (``ValueError``).
    """
    import random

    import numpy as np

    data, stores, out_root = check_parameters(profile, data_dir=data_dir, store_dir=store_dir,
                                              out_dir=out_dir)
    out = paths(out_root)
    source = ensure_data(data, profile, seed) if make_data else data_source(data)
    if build_store and source != "missing":
        _check_store(stores, data)
        from afkit import featurize

        featurize.build(stores, data, feature_set="mean_std", frames=True,
                        workers=max(1, min(2, os.cpu_count() or 1)))
    from afkit import plots

    plots.set_style()
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return Context(profile=profile, seed=seed, device=device, data_dir=data, store_dir=stores,
                   out_dir=out.root, out=out, source=source)


def check_parameters(profile, *, data_dir=None, store_dir=None, out_dir=None) -> tuple[Path, Path, Path]:
    """The notebooks' ``profile`` and folders checked and resolved: ``(data, store, out)``.

    Raises ``ValueError`` for an unknown profile or a ``data_dir`` that holds no YouTube-8M
    release (nor afkit's synthetic one), ``FileNotFoundError`` for a ``data_dir`` that does not
    exist; ``data_dir=None`` is the embedded synthetic set (made by :func:`setup` when missing).
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: pass profile='smoke' (seconds), 'cpu' (the main run) "
                         f"or 'paper' (the paper's sizes, real data)")
    if data_dir is None or str(data_dir) == "":
        data = (REPO / "data" / "generated" / profile).resolve()
    else:
        data = Path(data_dir).expanduser().resolve()
        if not data.exists():
            raise FileNotFoundError(
                f"data_dir {str(data)!r} does not exist: pass the folder of a YouTube-8M release (holding "
                f"video/*.tfrecord or frame/*.tfrecord and vocabulary.csv), or data_dir=None for the "
                f"embedded synthetic set")
        if not data.is_dir():
            raise ValueError(f"data_dir {str(data)!r} is a file, not a folder: pass the folder of a YouTube-8M "
                             f"release (holding video/ and frame/), or data_dir=None for the embedded synthetic set")
        if data_source(data) == "missing":
            raise ValueError(
                f"data_dir {str(data)!r} is not a YouTube-8M release: it has no video/*.tfrecord or "
                f"frame/*.tfrecord files; pass the folder that holds video/, frame/ and vocabulary.csv, "
                f"or data_dir=None for the embedded synthetic set")
    stores = Path(store_dir or REPO / "stores" / profile).expanduser().resolve()
    if stores.exists() and not stores.is_dir():
        raise ValueError(f"store_dir {str(stores)!r} is a file, not a folder: pass a folder for the feature "
                         f"store (an empty or missing one is built), or store_dir=None for stores/{profile}")
    out = Path(out_dir or REPO / "out" / profile).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir {str(out)!r} is a file, not a folder: pass a folder for the outputs, "
                         f"or out_dir=None for out/{profile}")
    return data, stores, out


def _check_store(store_dir: Path, data_dir: Path) -> None:
    """A ``ValueError`` (one sentence) when ``store_dir`` holds a store of another vocabulary than
    ``data_dir``'s ``vocabulary.csv``, or one built from other source files."""
    from afkit import featurize
    from afkit import store as store_mod

    try:
        wanted = featurize.read_num_classes(data_dir)
    except store_mod.StoreError as e:
        raise ValueError(f"data_dir {str(data_dir)!r} has an unreadable vocabulary ({e}); "
                         f"pass a release with a vocabulary.csv") from None
    for manifest_path in sorted(Path(store_dir).glob("*/manifest.json")):
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # the store's own checks report a damaged manifest
        split = manifest_path.parent.name
        have = manifest.get("num_classes")
        if wanted is not None and have is not None and int(have) != wanted:
            raise ValueError(
                f"store_dir {str(store_dir)!r} holds a store of {have} classes ({split}), but data_dir "
                f"{str(data_dir)!r} has {wanted} (vocabulary.csv): pass the store_dir built from this "
                f"data_dir, or a new folder (setup builds it)")
        sources = {Path(s["path"]).resolve().parent.parent for s in manifest.get("sources", []) if s.get("path")}
        if sources and sources != {data_dir}:
            other = ", ".join(sorted(str(s) for s in sources))
            raise ValueError(
                f"store_dir {str(store_dir)!r} was built from {other}, not from data_dir {str(data_dir)!r}: "
                f"pass the store_dir built from this data_dir, or a new folder (setup builds it)")


# ------------------------------------------------------------------------ notebook parameters
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
            rows.append({"notebook": nb.stem, "title": title, "parameter": p["name"], "type": p["type"],
                         "default": p["default"], "help": p["help"]})
    return pd.DataFrame(rows, columns=["notebook", "title", "parameter", "type", "default", "help"])


def notebooks_main(argv=None) -> int:
    """``python -m afkit notebooks``: every notebook with its parameters, types and defaults."""
    ap = argparse.ArgumentParser(prog="python -m afkit notebooks",
                                 description="List every notebook with the parameters of its `parameters` cell "
                                             "(read by papermill.inspect_notebook): name, type, default, help. "
                                             "Pass them to papermill with -p NAME VALUE.")
    ap.add_argument("--notebooks-dir", default=str(NOTEBOOKS_DIR), help="folder of NN_*.ipynb (default: notebooks/)")
    ap.add_argument("--notebooks", default=None, help="comma-separated numbers, e.g. 04,08 (default: all)")
    ap.add_argument("--markdown", action="store_true", help="a Markdown table instead of plain text")
    args = ap.parse_args(argv)
    try:
        table = notebooks_table(args.notebooks_dir, args.notebooks)
    except (FileNotFoundError, ValueError) as e:
        print(f"notebooks: {e}", file=sys.stderr)
        return 2
    if args.markdown:
        print(_markdown_table(table.drop(columns=["title"]), max_rows=len(table) + 1))
        return 0
    columns = ["parameter", "type", "default", "help"]
    widths = {c: max([len(c)] + [len(str(v)) for v in table[c]]) for c in columns[:-1]}
    for stem, g in table.groupby("notebook", sort=True):
        print(f"{stem}: {g['title'].iloc[0]}")
        print("  " + "  ".join(f"{c:<{widths[c]}}" for c in columns[:-1]) + "  help")
        for _, r in g.iterrows():
            print("  " + "  ".join(f"{str(r[c]):<{widths[c]}}" for c in columns[:-1]) + f"  {r['help']}")
        print()
    print("Run one with papermill: papermill notebooks/NN_name.ipynb out.ipynb -p profile smoke -p data_dir DATA ...")
    return 0
