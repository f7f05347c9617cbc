"""One command reproduces everything: papermill over ``notebooks/``, then the report.

``python -m afkit reproduce --profile cpu`` (see :func:`main`):

1. makes sure the data exist: the embedded synthetic set is generated into ``--data-dir``
   (:func:`afkit.report.notebook.ensure_data`) unless that directory already holds a real release;
2. runs every ``notebooks/NN_*.ipynb`` in name order with papermill (:func:`run_notebook`: one
   subprocess per notebook, a kernel spec pointing at this very interpreter, ``--timeout``
   seconds per notebook), with a progress bar over notebooks; the executed copies go to
   ``OUT/notebooks/``. A failed notebook is reported by name and cell and the others still run;
   the command exits 1 if any failed;
3. writes ``OUT/run.json`` (git SHA, ``tree_clean``, ``source_hash`` of afkit/ + notebooks/,
   ``code_hash``, profile, seed, :func:`machine`, total seconds, ``reused_runs`` /
   ``trained_runs``, seconds and status per notebook, the files each notebook wrote) and the
   report (:func:`afkit.report.document.build_report`) ``OUT/REPORT.md`` + ``OUT/report.html`` (+ a
   screenshot of its first screen, ``OUT/report.png``, where chromium is installed);
4. with ``--publish`` (the default for the ``cpu`` profile) and every notebook ok, copies the
   figures to the repository's ``figures/`` and the report to ``report/`` (:func:`publish`),
   the rendered results readers see on GitHub, and regenerates the README's results block
   (:func:`update_readme`); a run with a failed notebook publishes nothing.

The output folders follow :func:`afkit.report.notebook.paths`. :func:`check_notebook` enforces the
repository's rules on a stored notebook (no outputs, one ``parameters`` cell assigning
:data:`afkit.report.notebook.PARAMETERS` literals, no function or class defined).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from afkit.core import provenance
from afkit.core.cli import DEVICE_HELP
from afkit.report.browser import find_chromium, screenshot_report
from afkit.report.document import (
    build_report,
    describe_failure,
    format_seconds,
    portable_text,
    resume_hint,
    timing_line,
)
from afkit.report.notebook import (
    NOTEBOOKS_DIR,
    PARAMETERS,
    REPO,
    OutPaths,
    default_dirs,
    ensure_data,
    find_notebooks,
    paths,
)

KERNEL_NAME = "afkit-python3"


@dataclass(frozen=True)
class ReproduceProfile:
    """Run settings per profile."""

    timeout_s: float | None  # per notebook, wall clock; None = no limit
    publish: bool  # copy figures to figures/ and the report to report/
    device: str  # the notebooks' `device` parameter


PROFILES = {
    "smoke": ReproduceProfile(timeout_s=600, publish=False, device="cpu"),
    "cpu": ReproduceProfile(timeout_s=3600, publish=True, device="cpu"),
    "paper": ReproduceProfile(timeout_s=None, publish=False, device="auto"),
}


# ------------------------------------------------------------------------------------ notebooks
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
        source = "\n".join(
            "pass" if line.lstrip().startswith(("%", "!")) else line
            for line in cell.source.splitlines()
        )
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
        problems.append(
            f"{path.name}: needs exactly one cell tagged 'parameters', has {len(param_cells)}"
        )
    else:
        problems += _parameter_problems(path.name, *param_cells[0])
    return problems


def _parameter_problems(name: str, i: int, tree: ast.Module) -> list[str]:
    """The rule violations of notebook ``name``'s parameters cell (cell ``i``, parsed as
    ``tree``): a parameter assigned something other than a literal, a parameter missing."""
    problems, assigned = [], {}
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign) and node.value is not None
            else []
        )
        for t in targets:
            if isinstance(t, ast.Name):
                try:
                    assigned[t.id] = ast.literal_eval(node.value)
                except ValueError:
                    problems.append(f"{name}: parameter {t.id!r} (cell {i}) is not a literal")
                    assigned[t.id] = None
    missing = [k for k in PARAMETERS if k not in assigned]
    if missing:
        problems.append(f"{name}: parameters cell {i} lacks {', '.join(missing)}")
    return problems


def write_kernelspec(kernels_dir) -> Path:
    """Writes a Jupyter kernel spec ``afkit-python3`` that runs ``sys.executable``; returns the
    folder to put on ``JUPYTER_PATH`` (specs live in ``<it>/kernels/<name>/kernel.json``)."""
    kernels_dir = Path(kernels_dir)
    spec_dir = kernels_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"afkit ({Path(sys.executable).parent.parent.name} python)",
        "language": "python",
        "metadata": {"debugger": False},
    }
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
        pm.execute_notebook(
            job["input"],
            job["output"],
            parameters=job["parameters"],
            kernel_name=job["kernel_name"],
            cwd=job["cwd"],
            progress_bar=False,
            log_output=True,
            request_save_on_cell_execute=True,
        )
    except PapermillExecutionError as e:
        outcome = {
            "status": "failed",
            "cell_index": e.cell_index,
            "exec_count": e.exec_count,
            "source": e.source,
            "ename": e.ename,
            "evalue": e.evalue,
        }
    except Exception as e:  # kernel death, missing parameters, unreadable notebook
        outcome = {
            "status": "failed",
            "cell_index": None,
            "exec_count": None,
            "source": None,
            "ename": type(e).__name__,
            "evalue": str(e),
        }
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


def run_notebook(
    nb_path, out: OutPaths, parameters: dict, timeout_s: float | None = None, jupyter_path=None
) -> dict:
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
            [str(jupyter_path)] + ([env["JUPYTER_PATH"]] if env.get("JUPYTER_PATH") else [])
        )
    env.setdefault("PYTHONHASHSEED", "0")
    # the kernel imports the afkit of this repository (not another checkout's editable install)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    with tempfile.TemporaryDirectory(prefix="afkit-nb-") as tmp:
        job = Path(tmp) / "job.json"
        outcome_path = Path(tmp) / "outcome.json"
        job.write_text(
            json.dumps(
                {
                    "input": str(nb_path),
                    "output": str(output),
                    "parameters": parameters,
                    "kernel_name": KERNEL_NAME,
                    "cwd": str(nb_path.parent),
                    "outcome": str(outcome_path),
                }
            )
        )
        cmd = [
            sys.executable,
            "-c",
            "import sys; from afkit.report.reproduce import _child_main; "
            "sys.exit(_child_main(sys.argv[1]))",
            str(job),
        ]
        start = time.perf_counter()
        with open(log, "w") as log_f:
            proc = subprocess.Popen(
                cmd, stdout=log_f, stderr=subprocess.STDOUT, env=env, cwd=str(nb_path.parent)
            )
            try:
                proc.wait(timeout=timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                _kill_tree(proc)
                timed_out = True
        seconds = time.perf_counter() - start
        record = {
            "name": nb_path.stem,
            "input": provenance.portable_path(nb_path),
            "seconds": round(seconds, 2),
            "output": str(output.relative_to(out.root)),
            "log": str(log.relative_to(out.root)),
        }
        if timed_out:
            record["status"] = "timeout"
            record["error"] = {
                "cell": None,
                "exec_count": None,
                "ename": "Timeout",
                "evalue": f"notebook ran past {timeout_s:g} s and was stopped",
                "first_line": "",
            }
            return record
        if not outcome_path.exists():
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            record["status"] = "failed"
            record["error"] = {
                "cell": None,
                "exec_count": None,
                "ename": "RunnerError",
                "evalue": f"papermill exited {proc.returncode}: {tail[0]}",
                "first_line": "",
            }
            return record
        outcome = json.loads(outcome_path.read_text())
    record["status"] = outcome["status"]
    if outcome["status"] != "ok":
        cell, first = _source_cell(nb_path, outcome.get("source"), outcome.get("cell_index"))
        record["error"] = {
            "cell": cell,
            "exec_count": outcome.get("exec_count"),
            "ename": outcome["ename"],
            "evalue": outcome["evalue"],
            "first_line": first,
        }
    return record


def _snapshot(out: OutPaths) -> dict[str, tuple[int, int]]:
    snap = {}
    for d in (out.figures, out.tables, out.results):
        if d.is_dir():
            for f in d.iterdir():
                if f.is_file():
                    st = f.stat()
                    snap[str(f.relative_to(out.root))] = (st.st_mtime_ns, st.st_size)
    return snap


def run_folders(out_dir) -> dict[str, int]:
    """The finished training runs under ``OUT/runs`` (``results.json`` files): relative path ->
    modification time (ns). Compare two snapshots with :func:`count_reuse`."""
    runs = Path(out_dir) / "runs"
    if not runs.is_dir():
        return {}
    return {str(p.relative_to(runs)): p.stat().st_mtime_ns for p in runs.rglob("results.json")}


def count_reuse(before: dict, after: dict) -> tuple[int, int]:
    """(reused, trained): finished runs left untouched by a reproduction, and those it wrote."""
    reused = sum(1 for k, t in after.items() if before.get(k) == t)
    return reused, len(after) - reused


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
        cpu = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")
            ),
            cpu,
        )
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
        q = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if q.returncode == 0:
            gpu = ", ".join(ln.strip() for ln in q.stdout.splitlines() if ln.strip()) or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "os": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "gpu": gpu,
        "python": platform.python_version(),
        "versions": versions,
    }


# ------------------------------------------------------------------------------------------ main
def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m afkit reproduce",
        description="Run every notebook with papermill and build the report (Markdown + HTML).",
    )
    ap.add_argument(
        "--profile",
        default="cpu",
        choices=sorted(PROFILES),
        help="smoke (minutes, tests), cpu (the main run; its measured time is in the README), "
        "paper (the paper's sizes: a GPU and the real release)",
    )
    ap.add_argument("--out", default=None, help="output folder (default: out/<profile>)")
    ap.add_argument(
        "--data-dir",
        default=None,
        help="data folder; the synthetic set is generated there unless it holds a real "
        "release (default: data/generated/<profile>)",
    )
    ap.add_argument(
        "--store-dir", default=None, help="feature store folder (default: stores/<profile>)"
    )
    ap.add_argument(
        "--notebooks",
        default=None,
        help="comma-separated numbers to run, e.g. 00,02 (default: all)",
    )
    ap.add_argument(
        "--notebooks-dir",
        default=str(NOTEBOOKS_DIR),
        help="folder of NN_*.ipynb (default: notebooks/)",
    )
    ap.add_argument("--seed", type=int, default=0, help="the data's and every run's seed")
    ap.add_argument(
        "--device",
        default=None,
        help=DEVICE_HELP
        + "; default: "
        + ", ".join(f"{n} {q.device}" for n, q in PROFILES.items())
        + " (the smoke and cpu numbers are CPU numbers wherever they run)",
    )
    ap.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds per notebook before it is stopped; default: "
        + ", ".join(f"{n} {q.timeout_s or 'none'}" for n, q in PROFILES.items()),
    )
    ap.add_argument(
        "--publish",
        dest="publish",
        action="store_true",
        default=None,
        help="copy figures to figures/ and the report to report/ (default for cpu)",
    )
    ap.add_argument(
        "--no-publish", dest="publish", action="store_false", help="do not publish (see --publish)"
    )
    ap.add_argument(
        "--publish-dir",
        default=str(REPO),
        help="where figures/ and report/ are published (default: the repository)",
    )
    ap.add_argument(
        "--no-screenshot", action="store_true", help="skip the chromium screenshot of the report"
    )
    return ap


def publish(out_dir, publish_dir) -> tuple[Path, Path]:
    """Copies ``OUT/figures/*`` to ``PUBLISH/figures/``, ``OUT/results/*.json``,
    ``OUT/tables/*.csv`` and ``run.json`` to ``PUBLISH/report/`` (their paths inside the
    repository or ``PUBLISH`` made relative: :func:`afkit.report.document.portable_text`),
    writes the report (linking those figures) there, and regenerates the results section of
    ``PUBLISH/README.md`` (between its markers) from the copied results; returns the report's
    (md, html) paths."""
    out = paths(out_dir, create=False)
    pub = Path(publish_dir).resolve()
    figs = pub / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    for f in sorted(out.figures.glob("*")):
        if f.is_file():
            shutil.copy2(f, figs / f.name)
    report = pub / "report"

    def copy(src: Path, dest: Path) -> None:  # committed: no absolute path of this machine
        provenance.atomic_write_text(dest, portable_text(src.read_text(), pub))

    for sub, pattern in (("results", "*.json"), ("tables", "*.csv")):
        (report / sub).mkdir(parents=True, exist_ok=True)
        for f in sorted((out.root / sub).glob(pattern)):
            copy(f, report / sub / f.name)
    if out.run_json.exists():
        copy(out.run_json, report / "run.json")
        meta = json.loads(out.run_json.read_text())
        if meta.get("reused_runs") == 0 and meta.get("trained_runs"):
            copy(out.run_json, report / SCRATCH_RUN)  # a from-scratch time, kept
    paths_ = build_report(out.root, dest_dir=report, figures_dir=figs, link_notebooks=False)
    readme = pub / "README.md"
    if readme.exists():
        provenance.atomic_write_text(readme, update_readme(readme.read_text(), report))
    return paths_


# the run.json of the last from-scratch invocation, kept beside the report when a later
# invocation reads its training runs back (the README cites both times)
SCRATCH_RUN = "run_from_scratch.json"
README_START = (
    "<!-- results:start (generated by python -m afkit reproduce --profile cpu; do not edit) -->"
)
README_END = "<!-- results:end -->"


def _timing(report_dir: Path, run: dict) -> str:
    """The run times, from the published ``run.json`` (and the kept from-scratch one): one
    sentence when the published run trained everything itself, two (labelled) when it read the
    training runs of an earlier, from-scratch invocation of the same training code
    (``code_hash``) back; a from-scratch time of other training code is not cited."""
    scratch = report_dir / SCRATCH_RUN
    same_code = scratch.exists() and (
        json.loads(scratch.read_text()).get("code_hash") == run.get("code_hash")
    )
    if run.get("reused_runs") and same_code:
        return (
            f"**From scratch** ([report/{SCRATCH_RUN}](report/{SCRATCH_RUN})): "
            f"{timing_line(scratch)} **Regenerating the report** from those training runs "
            f"([report/run.json](report/run.json)): {timing_line(run)}"
        )
    return f"{timing_line(run)} Per-notebook times: [report/run.json](report/run.json)."


def _mean_std(r, key: str) -> str:
    """``mean ± std`` in percent; the mean alone where one seed gave no spread."""
    mean = f"{100 * r[f'{key}_mean']:.2f}"
    return f"{mean} ± {100 * r[f'{key}_std']:.2f}" if int(r["seeds"]) > 1 else mean


# the README's headline figures: (file stem, caption: what it shows, on what data)
README_FIGURES = (
    (
        "04_comparison_f1",
        "Test micro-F1 per arm on the synthetic set (mean over seeds; bars: the spread where "
        "there are several seeds); the paper's two real-data values in a separate panel",
    ),
)


def results_markdown(report_dir) -> str:
    """The README's results section, from a published report's ``results/`` and ``run.json``:
    the run time and machine, the protocol (once), the headline comparison on the test split
    (ours; the paper's real-data numbers in separate, labelled columns), the two paired tests,
    notebook 04's computed answer and the headline figure."""
    import pandas as pd

    report_dir = Path(report_dir)
    res = json.loads((report_dir / "results" / "04_comparison.json").read_text())
    run = (
        json.loads((report_dir / "run.json").read_text())
        if (report_dir / "run.json").exists()
        else {}
    )
    data = res["data"]
    summary = pd.DataFrame(data["summary"])
    synthetic = run.get("data_source", "synthetic") == "synthetic"
    protocol = data.get("protocol", "see afkit/training/protocol.py").rstrip(".")
    protocol = protocol.removeprefix("every arm: ")
    lines = [
        _timing(report_dir, run),
        "",
        f"Profile `{res['profile']}`, commit `{str(res.get('git_sha'))[:12]}`. **Data: "
        f"{'the synthetic set, not YouTube-8M' if synthetic else 'the YouTube-8M release'}.** "
        f"The tuning protocol, the same for every arm: {protocol}.",
        "",
        "| arm | parameters | parameters at paper size | learning rate (in its grid) | seeds "
        "| GAP@20 (%) | micro-F1 (%), validate threshold | micro-F1 (%) at 0.5 | learned "
        "| converged (epochs) | the paper's F1 (%), real data | the paper's parameters |",
        "|---|---:|---:|---:|---:|---:|---:|---:|:-:|:-:|---:|---:|",
    ]
    for _, r in summary.iterrows():
        pf = "" if pd.isna(r.get("paper_f1_pct")) else f"{r['paper_f1_pct']:.2f}"
        pp = (
            ""
            if pd.isna(r.get("paper_reported_params"))
            else f"{r['paper_reported_params'] / 1e6:.0f}M"
        )
        converged = "" if pd.isna(r.get("converged")) else "yes" if r["converged"] else "**no**"
        if converged and not pd.isna(r.get("epochs_run_max")):
            converged += f" ({int(r['epochs_run_max'])})"
        position = "" if pd.isna(r.get("lr_position")) else f" ({r['lr_position']})"
        lines.append(
            f"| {r['label']} | {int(r['params']):,} | {int(r['paper_params']):,} "
            f"| {r['lr']:g}{position} "
            f"| {int(r['seeds'])} | {_mean_std(r, 'gap')} | {_mean_std(r, 'micro_f1_tuned')} "
            f"| {100 * r['micro_f1_mean']:.2f} | {'yes' if r.get('learned', True) else '**no**'} "
            f"| {converged} | {pf} | {pp} |"
        )
    lines += [
        "",
        "Ours: the test split, mean ± standard deviation over the seeds (one seed: no spread "
        "measured). The paper's columns are its own numbers on the real YouTube-8M, not "
        "comparable with ours. Paired bootstraps on the test videos (difference in percentage "
        "points, 95% interval):",
        "",
        "| pair | GAP@20 | micro-F1, validate threshold | micro-F1 at 0.5 |",
        "|---|---:|---:|---:|",
    ]
    for ci in (data["bootstrap"], data["bootstrap_matched"]):
        cells = [
            f"{100 * ci[f'{k}_diff']:+.2f} [{100 * ci[f'{k}_lo']:+.2f}, {100 * ci[f'{k}_hi']:+.2f}]"
            for k in ("gap", "micro_f1", "micro_f1_05")
        ]
        lines.append(f"| {ci['a']} − {ci['b']} | " + " | ".join(cells) + " |")
    lines += ["", data.get("answer", ""), ""]
    figures = report_dir.parent / "figures"
    for name, caption in README_FIGURES:
        if (figures / f"{name}.png").exists() or not figures.exists():
            lines.append(f"![{caption}.](figures/{name}.png)")
            lines += ["", f"*{caption}.*"]
    lines += [
        "",
        "Every table and figure, with the command that regenerates it: "
        "[report/REPORT.md](report/REPORT.md).",
    ]
    return "\n".join(lines)


def update_readme(text: str, report_dir) -> str:
    """``text`` with the part between :data:`README_START` and :data:`README_END` replaced by
    :func:`results_markdown` (an error if the markers are missing)."""
    if README_START not in text or README_END not in text:
        raise ValueError("README has no results markers")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    return f"{head}{README_START}\n{results_markdown(report_dir)}\n{README_END}{tail}"


@dataclass(frozen=True)
class _Settings:
    """One invocation's settings: the parsed arguments with the profile's defaults filled in."""

    args: argparse.Namespace
    defaults: dict[str, Path]  # the profile's out_dir, data_dir and store_dir
    out: OutPaths
    data_dir: Path
    store_dir: Path
    device: str
    timeout: float | None
    publish: bool

    def parameters(self) -> dict:
        """The parameters every notebook runs with."""
        return {
            "profile": self.args.profile,
            "data_dir": str(self.data_dir),
            "store_dir": str(self.store_dir),
            "out_dir": str(self.out.root),
            "seed": self.args.seed,
            "device": self.device,
        }


def _settings(argv) -> _Settings:
    args = _parser().parse_args(argv)
    prof = PROFILES[args.profile]
    defaults = default_dirs(args.profile)
    out = paths(args.out or defaults["out_dir"])
    data_dir = Path(args.data_dir or defaults["data_dir"]).expanduser().resolve()
    store_dir = Path(args.store_dir or defaults["store_dir"]).expanduser().resolve()
    device = args.device or prof.device
    timeout = args.timeout if args.timeout is not None else prof.timeout_s
    if timeout is not None and timeout <= 0:
        raise SystemExit(f"--timeout must be positive, got {timeout}")
    return _Settings(
        args,
        defaults,
        out,
        data_dir,
        store_dir,
        device,
        timeout,
        prof.publish if args.publish is None else args.publish,
    )


@dataclass
class _Invocation:
    """What one invocation gathers for ``run.json``: when it started, the runs and source files
    before the notebooks ran, the data source, and the notebooks' records and failures."""

    started: datetime
    t0: float
    runs_before: dict[str, int]
    source_files: list[str]
    source: str = ""
    records: dict[str, dict] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)


def _run_notebooks(
    s: _Settings, run: _Invocation, notebooks: list[Path], jupyter_path: Path
) -> None:
    """Run every notebook under a progress bar; ``run.records`` keeps the earlier records of the
    notebooks that still exist, updated with this invocation's."""
    from tqdm.auto import tqdm

    out, parameters = s.out, s.parameters()
    previous = (
        json.loads(out.run_json.read_text()).get("notebooks", {}) if out.run_json.exists() else {}
    )
    run.records = {
        k: v for k, v in previous.items() if (Path(s.args.notebooks_dir) / f"{k}.ipynb").exists()
    }
    bar = tqdm(notebooks, desc="notebooks", unit="nb", dynamic_ncols=True)
    for nb in bar:
        bar.set_postfix_str(nb.stem)
        before = _snapshot(out)
        rec = run_notebook(nb, out, parameters, s.timeout, jupyter_path)
        after = _snapshot(out)
        rec["outputs"] = sorted(f for f, sig in after.items() if before.get(f) != sig)
        run.records[nb.stem] = rec
        if rec["status"] != "ok":
            run.failures.append(rec)
            tqdm.write(f"FAILED {describe_failure(rec)} (log: {out.root / rec['log']})")
        else:
            tqdm.write(f"ok     {nb.stem} ({rec['seconds']:.1f} s, {len(rec['outputs'])} file(s))")
    bar.close()


def _write_run_json(s: _Settings, run: _Invocation, argv) -> dict:
    """``OUT/run.json``: the settings, the machine, the notebooks' records and provenance that
    cannot drift (``python -m afkit check-report`` compares it with the tree)."""
    args = s.args
    here = provenance.portable_path  # paths relative to the repository where inside it
    meta = {
        "profile": args.profile,
        "seed": args.seed,
        "device": s.device,
        "data_dir": here(s.data_dir),
        "store_dir": here(s.store_dir),
        "out_dir": here(s.out.root),
        "data_source": run.source,
        "default_data_dir": here(s.defaults["data_dir"]),
        "default_out_dir": here(s.defaults["out_dir"]),
        "notebooks_dir": here(Path(args.notebooks_dir).resolve()),
        "default_notebooks_dir": here(NOTEBOOKS_DIR),
        "git_sha": provenance.git_sha(REPO),
        "started": run.started.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - run.t0, 1),
        "machine": machine(),
        "command": "python -m afkit reproduce "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "notebooks": run.records,
    }
    sha = meta["git_sha"]
    unchanged = provenance.source_files(REPO) == run.source_files
    meta["tree_clean"] = bool(sha) and not sha.endswith("+dirty") and unchanged
    meta["source_changed_during_run"] = not unchanged
    meta["source_hash"] = provenance.source_hash(
        files=run.source_files
    )  # the files the notebooks ran
    meta["source_files"] = run.source_files
    meta["code_hash"] = provenance.code_hash()
    meta["reused_runs"], meta["trained_runs"] = count_reuse(
        run.runs_before, run_folders(s.out.root)
    )
    provenance.write_json(s.out.run_json, meta)
    return meta


def _report_and_publish(s: _Settings, failed: bool = False) -> None:
    """The report (and its screenshot), then, where the settings say so and no notebook
    ``failed``, its published copy (a failed run's report stays in ``OUT/``: the committed one
    is not overwritten by a partial one)."""
    args = s.args
    md_path, html_path = build_report(s.out.root)
    print(f"reproduce: report {md_path} and {html_path}")
    if not args.no_screenshot:
        try:
            print(f"reproduce: screenshot {screenshot_report(html_path)}")
        except (FileNotFoundError, RuntimeError, TimeoutError) as e:
            print(f"reproduce: no screenshot ({e})", file=sys.stderr)
    if not s.publish:
        return
    if failed:
        print(
            f"reproduce: not published to {args.publish_dir}: a notebook failed (the report of "
            f"this run is {md_path})",
            file=sys.stderr,
        )
        return
    pub_md, pub_html = publish(s.out.root, args.publish_dir)
    if not args.no_screenshot and find_chromium():
        try:
            screenshot_report(pub_html)
        except (RuntimeError, TimeoutError) as e:
            print(f"reproduce: no screenshot of the published report ({e})", file=sys.stderr)
    print(
        f"reproduce: published figures to {Path(args.publish_dir) / 'figures'} and the report to "
        f"{pub_md.parent}"
    )


def main(argv=None) -> int:
    s = _settings(argv)
    args = s.args
    notebooks = find_notebooks(args.notebooks_dir, args.notebooks)
    if not notebooks:
        print(f"reproduce: no NN_*.ipynb notebooks in {args.notebooks_dir}", file=sys.stderr)
        return 1
    run = _Invocation(
        datetime.now(timezone.utc),
        time.perf_counter(),
        run_folders(s.out.root),
        provenance.source_files(REPO),
    )
    print(
        f"reproduce: profile {args.profile}, seed {args.seed}, {len(notebooks)} notebook(s) -> "
        f"{s.out.root}"
    )
    run.source = ensure_data(s.data_dir, args.profile, args.seed)
    print(f"reproduce: data {run.source} at {s.data_dir}")
    _run_notebooks(s, run, notebooks, write_kernelspec(s.out.kernels))
    meta = _write_run_json(s, run, argv)
    _report_and_publish(s, failed=bool(run.failures))
    if run.failures:
        print(
            f"reproduce: {len(run.failures)} of {len(notebooks)} notebook(s) failed:",
            file=sys.stderr,
        )
        for rec in run.failures:
            print(f"  {describe_failure(rec)}", file=sys.stderr)
        hint = next(filter(None, map(resume_hint, run.failures)), "")
        if hint:
            print(f"  {hint}", file=sys.stderr)
        return 1
    print(f"reproduce: all {len(notebooks)} notebook(s) ran in {format_seconds(meta['seconds'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
