"""The reproduction report (``OUT/REPORT.md`` + ``OUT/report.html``), read like a paper's results
section, and the check that it is what a reader should trust.

:func:`build_report` reads the files of a reproduction run (``run.json``, ``results/``,
``tables/``, ``figures/``) and builds one document, a list of blocks (heading, paragraph,
answer, table, figure, ...), rendered once to Markdown and once to HTML: the data banner, a
provenance line (commit, clean tree or not, :func:`timing_line`), a table of contents, then

- **Findings**: for every notebook that saved a computed answer (``results/NN_name.json`` with
  ``data["answer"]``, Markdown), that answer, its headline table (:data:`HEADLINE`, else its first
  table; a column subset when the table is wide) and its headline figure;
- **Details**: the run metadata, the notebooks table (status, time, the regenerating command) and
  every notebook's section: each table (a table longer than :data:`LONG_TABLE_ROWS` rows is
  summarised by its first rows and linked as CSV) and each figure.

Every table of the HTML sits in a horizontally scrolling box, so no table widens the page.
:func:`regenerate_command` and :func:`describe_failure` put a run record of ``run.json`` in
words. :func:`check_main` (``python -m afkit check-report [REPORT_DIR]``) fails when a published
report was made from a dirty tree or from other afkit/ or notebooks/ files than the current ones.
The output folders are :func:`afkit.report.notebook.paths`'s; :mod:`afkit.report.browser` looks
at the HTML.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from afkit.core import provenance
from afkit.report.captions import caption
from afkit.report.markup import (
    Answer,
    Callout,
    Contents,
    Document,
    Heading,
    NotebookIndex,
    Paragraph,
    RunTable,
    Status,
    render_html,
    render_markdown,
    slug,
)
from afkit.report.notebook import REPO, notebook_title, paths

FIGURE_FORMATS = (".png", ".svg", ".pdf", ".jpg", ".jpeg")
FINDINGS_COLUMNS = 8  # the findings show the first columns of a wide headline table, unless
# it has these (the answer's columns: what it is, its size, its test scores), shown in this order
FINDINGS_PREFERRED = (
    "label",
    "reading",
    "num_classes",
    "method",
    "model",
    "trained",
    "labels_per_class",
    "params",
    "head_share",
    "paper_head_share",
    "gap_mean",
    "gap_std",
    "gap",
    "gap_on",
    "gap_off",
    "gap_diff",
    "gap_lo",
    "gap_hi",
    "micro_f1_tuned_mean",
    "micro_f1_tuned_std",
    "micro_f1_tuned",
    "map_mean",
    "mean",
    "ci_low",
    "ci_high",
    "n",
    "matters",
    "seeds",
    "learned",
    "converged",
    "paper_f1_pct",
)
FINDINGS_MAX_COLUMNS = 11
# tables whose findings show these columns, in this order (a row must say what it is: notebook
# 09's rows are a world and a baseline each)
FINDINGS_OF = {
    "09_claim_map": (
        "world",
        "videos_per_class",
        "baseline",
        "seeds",
        "f1_diff",
        "f1_lo",
        "f1_hi",
        "outcome",
        "gap_diff",
        "gap_lo",
        "gap_hi",
        "status",
    ),
}
DETAILS_MAX_COLUMNS = 12  # the details' tables: wider ones show a subset (the CSV has all)

# notebook -> (headline table stem, headline figure stem): what the Findings show of it
HEADLINE = {
    "00_data": ("00_splits", "00_label_frequency"),
    "01_features": ("01_mean_agreement", "01_feature_distributions"),
    "02_train": ("02_final_metrics", "02_learning_curves"),
    "03_parameters": ("03_models_paper", "03_parameters_vs_width"),
    "04_comparison": ("04_comparison", "04_comparison_f1"),
    "05_fusion_ablation": ("05_fusion_ablation", "05_fusion_ablation"),
    "06_attention_config": ("06_attention_config", "06_pareto_params"),
    "07_vocabulary_scaling": ("07_vocabulary_scaling", "07_vocabulary_f1"),
    "08_interpretability": ("08_evidence_auroc", "08_timeline"),
    "09_claim_map": ("09_claim_map", "09_claim_map"),
    "10_readings": ("10_readings", "10_readings_gap_vs_params"),
}


# -------------------------------------------------------------------------------- formatting
def format_seconds(s) -> str:
    """A duration for a reader: ``42.0 s`` below two minutes, else ``25 min 03 s``."""
    if s is None:
        return "n/a"
    s = float(s)
    return f"{s:.1f} s" if s < 120 else f"{int(s // 60)} min {s % 60:02.0f} s"


def _rel(p) -> str:
    """A path as the report shows it: relative to the repository when inside it."""
    return provenance.portable_path(p, REPO)


def portable_text(text: str, *roots) -> str:
    """``text`` without this machine's absolute paths: the repository's (and then each of
    ``roots``') absolute prefix dropped, so that paths read relative to it, and the home folder
    written ``~``."""
    for root in (REPO, *roots):
        root = re.escape(str(Path(root).resolve()))
        text = re.sub(root + re.escape(os.sep), "", text)
        text = re.sub(root + r"(?![\w.-])", ".", text)
    home = str(Path.home().resolve())
    if len(home) > 1:
        text = re.sub(re.escape(home) + r"(?=/|(?![\w.-]))", "~", text)
    return text


def findings_columns(df, limit: int = FINDINGS_COLUMNS, stem: str | None = None) -> list:
    """The columns of a table shown in the report: those :data:`FINDINGS_OF` lists for the
    table ``stem`` (the ones it has); else all of a table of at most ``limit`` columns
    (the findings' :data:`FINDINGS_COLUMNS`, the details' :data:`DETAILS_MAX_COLUMNS`); of a
    wider one, those of :data:`FINDINGS_PREFERRED` it has (``model`` dropped beside ``label``),
    else its first ``limit``. The CSV, linked under every table, has them all."""
    cols = list(df.columns)
    if stem in FINDINGS_OF:
        return [c for c in FINDINGS_OF[stem] if c in cols]
    if len(cols) <= limit:
        return cols
    chosen = [c for c in FINDINGS_PREFERRED if c in cols]
    if "label" in chosen and "model" in chosen:
        chosen.remove("model")
    if len(chosen) < 3:
        return cols[:limit]
    return chosen[: max(limit, FINDINGS_MAX_COLUMNS)]


def _load_table(path: Path):
    import pandas as pd

    try:
        return pd.read_csv(path), None
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as e:
        return None, str(e)


# ------------------------------------------------------------------------------------ timing
def _machine_words(m: dict) -> str:
    if not m:
        return "an unrecorded machine"
    cores = f"{m['cores']} cores" if m.get("cores") else "an unrecorded number of cores"
    gpu = f"GPU {m['gpu']}" if m.get("gpu") else "no GPU"
    return f"{m.get('cpu') or 'an unrecorded CPU'} with {cores} and {gpu}"


def _minutes(s) -> str:
    return f"{float(s) / 60:.1f} minutes"


def timing_line(run_json) -> str:
    """The README's one-sentence timing claim, from a ``run.json`` (a path or its dict): total
    minutes, the longest notebook, from scratch or reusing finished training runs, the machine."""
    meta = (
        json.loads(Path(run_json).read_text())
        if isinstance(run_json, (str, os.PathLike))
        else dict(run_json)
    )
    cmd = meta.get("command") or f"python -m afkit reproduce --profile {meta.get('profile', 'cpu')}"
    total = meta.get("seconds")
    nbs = {
        k: v.get("seconds")
        for k, v in meta.get("notebooks", {}).items()
        if v.get("seconds") is not None
    }
    head = (
        f"`{cmd}` took {_minutes(total)}"
        if total is not None
        else f"`{cmd}` took an unrecorded time"
    )
    head += f" on {_machine_words(meta.get('machine', {}))}"
    if nbs:
        longest = max(nbs, key=nbs.get)
        head += (
            f"; the longest of its {len(nbs)} notebooks, {longest}, took {_minutes(nbs[longest])}"
        )
    reused, trained = meta.get("reused_runs"), meta.get("trained_runs")
    if reused is None:
        how = "whether it reused earlier training runs was not recorded"
    elif reused == 0:
        how = f"it ran from scratch ({trained or 0} training runs trained)"
    else:
        how = (
            f"it reused {reused} finished training run{'s' if reused != 1 else ''} of an "
            f"earlier invocation ({trained or 0} trained)"
        )
    return f"{head}; {how}."


# ------------------------------------------------------------------------------ run records
def regenerate_command(meta: dict, notebook: str | None = None) -> str:
    """The command that regenerates a notebook's outputs (or the whole run)."""
    cmd = f"python -m afkit reproduce --profile {meta.get('profile', 'cpu')}"
    if notebook:
        cmd += f" --notebooks {notebook[:2]}"
    if meta.get("seed") is not None and meta.get("seed") != 0:
        cmd += f" --seed {meta['seed']}"
    for key, flag in (
        ("data_dir", "--data-dir"),
        ("out_dir", "--out"),
        ("notebooks_dir", "--notebooks-dir"),
    ):
        value, default = meta.get(key), meta.get(f"default_{key}")
        if value and value != default:
            cmd += f" {flag} {_rel(value)}"
    return cmd


def describe_failure(record: dict) -> str:
    """One line naming the notebook, the cell and the error of a failed run record."""
    e = record["error"]
    where = f"cell {e['cell']}" if e.get("cell") else "before any cell ran"
    if e.get("exec_count"):
        where += f" (In [{e['exec_count']}])"
    first = f" `{e['first_line']}`" if e.get("first_line") else ""
    return f"{record['name']}: {record['status']} at {where}{first}: {e['ename']}: {e['evalue']}"


def resume_hint(record: dict) -> str:
    """What to do about a notebook stopped by the time limit (empty for any other record)."""
    if record.get("status") != "timeout":
        return ""
    return (
        "Rerunning the same command goes on from there: finished training runs are read back "
        "and an unfinished one continues from its last checkpoint (`--timeout` sets the limit)."
    )


# ------------------------------------------------------------------------------------- report
class _RunFiles:
    """The files of a reproduction run as the report sees them: which notebook wrote each (by
    ``run.json``), the report's sections, the computed answers, and links relative to the
    report's folder ``dest`` (images from ``fig_dir``)."""

    def __init__(self, out, dest: Path, fig_dir: Path):
        self.out, self.dest, self.fig_dir = out, dest, fig_dir
        self.meta = json.loads(out.run_json.read_text()) if out.run_json.exists() else {}
        self.runs: dict = self.meta.get("notebooks", {})
        self.files = sorted(
            str(p.relative_to(out.root))
            for d in (out.figures, out.tables, out.results)
            if d.is_dir()
            for p in d.iterdir()
            if p.is_file()
        )
        self.owner = {
            f: name for name, rec in sorted(self.runs.items()) for f in rec.get("outputs", [])
        }
        self.sections = [(name, self.runs[name]) for name in sorted(self.runs)]
        self.orphans = [f for f in self.files if f not in self.owner]
        if self.orphans:
            self.sections.append(("Other outputs" if self.runs else "Outputs", None))

    def written_by(self, name: str) -> list[str]:
        return [f for f in self.files if self.owner.get(f) == name]

    def files_of(self, name: str, rec) -> list[str]:
        """A section's files: those its notebook wrote, or for the last section those none did."""
        return self.written_by(name) if rec is not None else self.orphans

    def csv_link(self, f: str) -> str:
        target = self.dest / f if (self.dest / f).exists() else self.out.root / f
        return os.path.relpath(target, self.dest)

    def figures(self, files: list[str]) -> dict[str, tuple[str | None, list[str]]]:
        """stem -> (the image shown, links to its other formats), relative to the report."""
        stems: dict[str, list[str]] = {}
        for f in files:
            if f.startswith("figures/") and f.lower().endswith(FIGURE_FORMATS):
                stems.setdefault(Path(f).stem, []).append(f)

        def rel(g):
            return os.path.relpath(self.fig_dir / Path(g).name, self.dest)

        out = {}
        for stem, group in stems.items():
            shown = next(
                (g for g in group if g.lower().endswith((".png", ".jpg", ".jpeg", ".svg"))), None
            )
            out[stem] = (rel(shown) if shown else None), [rel(g) for g in group if g != shown]
        return out

    def title_of(self, rec) -> str | None:
        """The title of a run record's notebook (its input, else its executed copy), if readable."""
        for key in ("input", "output"):
            p = rec.get(key) if rec else None
            if p:
                p = Path(p)
                p = next(
                    (q for q in (p, REPO / p, self.out.root / p) if q.is_absolute() and q.exists()),
                    p,
                )
                if p.exists():
                    try:
                        return notebook_title(p)
                    except (
                        Exception
                    ):  # an unreadable notebook: the report goes on without its title
                        return None
        return None

    def _results(self):
        """(file, its ``data`` dict) of every readable ``results/*.json``, in file order."""
        for f in self.files:
            if f.startswith("results/") and f.endswith(".json"):
                try:
                    res = json.loads((self.out.root / f).read_text())
                except (OSError, json.JSONDecodeError):
                    continue
                if isinstance(res, dict) and isinstance(res.get("data"), dict):
                    yield f, res["data"]

    def protocol(self) -> str | None:
        """The tuning protocol in one sentence, as a notebook saved it (``data.protocol``)."""
        for _, data in self._results():
            found = data.get("protocol")
            if isinstance(found, str) and found.strip():
                return found.strip().rstrip(".").removeprefix("every arm: ")
        return None

    def answers(self) -> list[tuple[str, str, str]]:
        """(notebook, results file, answer) of every ``results/*.json`` with ``data.answer``."""
        return [
            (self.owner.get(f) or Path(f).stem, f, data["answer"])
            for f, data in self._results()
            if isinstance(data.get("answer"), str) and data["answer"].strip()
        ]


def _tables(files: list[str]) -> list[str]:
    return [f for f in files if f.startswith("tables/") and f.endswith(".csv")]


def _data_banner(meta: dict) -> Callout:
    source = meta.get("data_source")
    if source == "synthetic":
        text = (
            "Every number and figure in this report was computed on afkit's **synthetic** data "
            "set (generated in the YouTube-8M release format), not on the real YouTube-8M. "
            "They show how the code and the models behave; they are not YouTube-8M scores and "
            "must not be compared with the paper's numbers as if they were."
        )
    elif source == "real":
        text = f"Data: the YouTube-8M release at `{_rel(meta.get('data_dir'))}`."
    else:
        text = (
            "The data source of this run was not recorded: treat every number as coming from "
            "unknown data."
        )
        source = "unknown"
    return Callout("Data", text, f"banner {source}", markdown=True)


def _provenance(meta: dict) -> Paragraph | None:
    if not meta:
        return None
    sha = meta.get("git_sha")
    clean = meta.get("tree_clean")
    if clean is None and sha:
        clean = not str(sha).endswith("+dirty")
    state = (
        "not recorded"
        if clean is None
        else ("clean tree" if clean else "**dirty tree** (uncommitted changes)")
    )
    commit = f"commit `{str(sha).removesuffix('+dirty')[:12]}`" if sha else "an unrecorded commit"
    return Paragraph(
        f"Made from {commit}, {state}; profile `{meta.get('profile', '?')}`. " + timing_line(meta),
        cls="provenance",
    )


def _finding(
    doc: Document, run: _RunFiles, name: str, res_file: str, answer: str, details_anchor: dict
) -> None:
    """A computed answer with its headline table (a column subset when wide) and figure."""
    recorded = name in run.runs
    doc.heading(3, run.title_of(run.runs.get(name)) or f"{name}: the computed answer")
    doc.add(Answer(answer))
    files = (
        run.written_by(name)
        if recorded
        else [f for f in run.files if Path(f).stem.startswith(name[:3])]
    )
    table_stem, fig_stem = HEADLINE.get(name, HEADLINE.get(Path(res_file).stem, (None, None)))
    tables = _tables(files)
    table = next((f for f in tables if Path(f).stem == table_stem), tables[0] if tables else None)
    cmd = regenerate_command(run.meta, name) if recorded else None
    anchor = details_anchor.get(name if recorded else "Other outputs" if run.runs else "Outputs")
    del anchor  # the table links its CSV, where every column is
    source = run.meta.get("data_source")
    if table:
        df, _ = _load_table(run.out.root / table)
        if df is not None:
            doc.table(
                df,
                caption=caption(Path(table).stem, source),
                rel_csv=run.csv_link(table),
                file=table,
                columns=findings_columns(df, stem=Path(table).stem),
            )
    figures = run.figures(files)
    fig = fig_stem if fig_stem in figures else next(iter(figures), None)
    if fig:
        doc.figure(fig, caption(fig, source), *figures[fig], cmd)


def _run_rows(meta: dict) -> list[tuple[str, str]]:
    """The Details' run table: commit, tree, hashes, profile, data, time, machine, command."""
    mach = meta.get("machine", {})
    clean = meta.get("tree_clean")
    rows = [
        ("git commit", meta.get("git_sha")),
        ("tree", None if clean is None else ("clean" if clean else "dirty (uncommitted changes)")),
        (
            "source hash (afkit/, notebooks/)",
            f"`{meta['source_hash']}`" if meta.get("source_hash") else None,
        ),
        ("training code hash", f"`{meta['code_hash']}`" if meta.get("code_hash") else None),
        ("profile", meta.get("profile")),
        ("seed", meta.get("seed")),
        ("device", meta.get("device")),
        (
            "data",
            f"{meta.get('data_source', 'unknown')} ({_rel(meta['data_dir'])})"
            if meta.get("data_dir")
            else None,
        ),
        ("started (UTC)", meta.get("started")),
        ("total time", format_seconds(meta.get("seconds")) if meta else None),
        (
            "training runs",
            None
            if meta.get("reused_runs") is None
            else f"{meta['reused_runs']} reused, {meta.get('trained_runs', 0)} trained",
        ),
        (
            "machine",
            ", ".join(
                str(x)
                for x in (
                    mach.get("cpu"),
                    f"{mach.get('cores')} cores" if mach.get("cores") else None,
                    mach.get("memory"),
                    mach.get("gpu") or ("no GPU" if mach else None),
                )
                if x
            ),
        ),
        (
            "OS / Python",
            f"{mach.get('os')} / Python {mach.get('python')}" if mach.get("os") else None,
        ),
        ("versions", ", ".join(f"{k} {v}" for k, v in mach.get("versions", {}).items()) or None),
        ("command", f"`{meta['command']}`" if meta.get("command") else None),
    ]
    return [(k, v) for k, v in rows if v not in (None, "")]


def _section(doc: Document, run: _RunFiles, name: str, rec, link_notebooks: bool) -> None:
    """A notebook's section of the Details (or that of the files no notebook wrote): status, for
    a failure the cell and error, the regenerating command, every table and figure."""
    files = run.files_of(name, rec)
    cmd = regenerate_command(run.meta, name if rec is not None else None)
    doc.heading(3, name)
    if rec is not None:
        nb_title = run.title_of(rec)
        if nb_title:
            doc.add(Paragraph(f"*{nb_title}*"))
        executed = None
        if link_notebooks and rec.get("output") and (run.out.root / rec["output"]).exists():
            executed = rec["output"], os.path.relpath(run.out.root / rec["output"], run.dest)
        doc.add(Status(rec["status"], format_seconds(rec.get("seconds")), cmd, executed))
        if rec.get("error"):
            doc.add(
                Callout(
                    "Failed",
                    " ".join(filter(None, (describe_failure(rec), resume_hint(rec)))),
                    "error",
                    markdown=False,
                )
            )
    else:
        doc.add(Paragraph(f"Regenerate: `{cmd}`"))
    source = run.meta.get("data_source")
    for f in _tables(files):
        df, err = _load_table(run.out.root / f)
        if df is None:
            doc.add(Paragraph(f"`{f}`: unreadable CSV ({err})", cls="error"))
            continue
        doc.table(
            df,
            caption=caption(Path(f).stem, source),
            rel_csv=run.csv_link(f),
            file=f,
            columns=findings_columns(df, DETAILS_MAX_COLUMNS, stem=Path(f).stem),
        )
    for stem, (shown, links) in run.figures(files).items():
        doc.figure(stem, caption(stem, source), shown, links, cmd)
    results = [f for f in files if f.startswith("results/")]
    if results:
        doc.add(Paragraph("Results files: " + ", ".join(f"`{f}`" for f in results)))
    if rec is not None and not files:
        doc.add(Paragraph("*(no figures or tables)*", cls="note"))


def build_report(
    out_dir,
    *,
    dest_dir=None,
    figures_dir=None,
    link_notebooks: bool = True,
    title: str = "afkit reproduction report",
) -> tuple[Path, Path]:
    """Writes ``REPORT.md`` and ``report.html`` into ``dest_dir`` (default ``out_dir``) from the
    files under ``out_dir`` (figures/, tables/*.csv, results/*.json, run.json); returns both paths.

    Findings first (each computed answer with its headline table and figure), then Details: the
    run, the notebooks, and a section per notebook of ``run.json`` (status, for a failure the cell
    and error, the regenerating command, its tables and figures: PNG shown, SVG/PDF linked). Files
    no recorded notebook wrote are gathered under "Other outputs" ("Outputs" without run.json).
    ``figures_dir`` (default ``OUT/figures``) is where the images are linked from (relative
    links), so a published report can point at the repository's ``figures/``; tables link to
    ``DEST/tables/`` where it holds the CSV (a published report), else to ``OUT/tables/``.
    """
    out = paths(out_dir, create=False)
    if not out.root.is_dir():
        raise FileNotFoundError(f"output folder {out.root} does not exist")
    dest = Path(dest_dir).resolve() if dest_dir is not None else out.root
    dest.mkdir(parents=True, exist_ok=True)
    run = _RunFiles(
        out, dest, Path(figures_dir).resolve() if figures_dir is not None else out.figures
    )
    # the anchors of the details' sections, fixed before the findings link to them
    protocol = run.protocol()
    seen: dict = {}
    for h in ("Protocol",) * bool(protocol) + ("Findings", "Details", "Run", "Notebooks"):
        slug(h, seen)
    details_anchor = {name: slug(name, seen) for name, _ in run.sections}

    doc = Document()
    if protocol:
        doc.heading(2, "Protocol")
        doc.add(
            Paragraph(
                f"The tuning protocol, the same for every trained arm below: {protocol}. "
                "Metrics are in percent; differences between two arms in percentage points."
            )
        )
    doc.heading(2, "Findings")
    answers = run.answers()
    if not answers:
        doc.add(
            Paragraph(
                "*No notebook saved a computed answer (`results/NN_name.json` with `data.answer`).*"
            )
        )
    for name, res_file, answer in answers:
        _finding(doc, run, name, res_file, answer, details_anchor)
    doc.heading(2, "Details")
    rows = _run_rows(run.meta)
    if rows:
        doc.heading(3, "Run")
        doc.add(RunTable(rows))
    if run.runs:
        doc.heading(3, "Notebooks")
        doc.add(
            NotebookIndex(
                [
                    (
                        name,
                        details_anchor[name],
                        rec["status"],
                        format_seconds(rec.get("seconds")),
                        regenerate_command(run.meta, name),
                    )
                    for name, rec in run.sections
                    if rec is not None
                ]
            )
        )
    for name, rec in run.sections:
        _section(doc, run, name, rec, link_notebooks)

    prov = _provenance(run.meta)
    blocks = [
        Heading(1, title),
        _data_banner(run.meta),
        *([prov] if prov else []),
        Contents(doc.headings()),
        *doc.blocks,
    ]
    md_path, html_path = dest / "REPORT.md", dest / "report.html"
    # no absolute path of this machine in either file (paths relative to the repository, or to
    # the output folder where it lies outside the repository)
    roots = [out.root] if provenance.portable_path(out.root, REPO) == str(out.root) else []
    provenance.atomic_write_text(md_path, portable_text(render_markdown(blocks), *roots))
    provenance.atomic_write_text(html_path, portable_text(render_html(blocks, title), *roots))
    return md_path, html_path


# ------------------------------------------------------------------------------- check-report
def check_report(report_dir, repo=None) -> str | None:
    """Why the report in ``report_dir`` cannot be trusted for the tree at ``repo`` (default this
    checkout), as one sentence; None when it can: its ``run.json`` says it was made from a clean
    tree, and the source hash it records equals that of ``repo``'s afkit/ and notebooks/ now."""
    from afkit.core import provenance

    report_dir = Path(report_dir)
    run = report_dir / "run.json"
    if not run.is_file():
        return f"{run} does not exist: publish a report first (make reproduce)"
    try:
        meta = json.loads(run.read_text())
    except json.JSONDecodeError as e:
        return f"{run} is not JSON ({e})"
    sha = meta.get("git_sha")
    clean = meta.get("tree_clean")
    if clean is None and sha is not None:
        clean = not str(sha).endswith("+dirty")
    if clean is False or (sha and str(sha).endswith("+dirty")):
        return (
            f"the report was made from a dirty tree (git {sha}): commit, then rerun make reproduce"
        )
    if clean is None:
        return f"{run} records no git state (tree_clean): rerun make reproduce"
    recorded = meta.get("source_hash")
    if not recorded:
        return f"{run} records no source_hash of afkit/ and notebooks/: rerun make reproduce"
    now = provenance.source_files(repo)
    if provenance.source_hash(repo) != recorded:
        before = meta.get("source_files") or {}
        changed = (
            sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
            if before
            else []
        )
        which = (
            f" ({', '.join(changed[:5])}{', ...' if len(changed) > 5 else ''})" if changed else ""
        )
        return (
            f"afkit/ or notebooks/ changed since the report was made{which}: source hash "
            f"{recorded} recorded, {provenance.source_hash(repo)} now; rerun make reproduce"
        )
    return None


def check_main(argv=None) -> int:
    """``python -m afkit check-report [REPORT_DIR] [--repo PATH]``: exit 1 with one line when the
    published report is stale (see :func:`check_report`), else print OK and exit 0."""
    ap = argparse.ArgumentParser(
        prog="python -m afkit check-report",
        description="Fail when the published report was made from a dirty tree or "
        "from other afkit/ or notebooks/ files than the current ones.",
    )
    ap.add_argument("report_dir", nargs="?", default=str(REPO / "report"), help="default: report/")
    ap.add_argument(
        "--repo",
        default=None,
        help="the tree whose afkit/ and notebooks/ to compare (default: this checkout)",
    )
    args = ap.parse_args(argv)
    problem = check_report(args.report_dir, args.repo)
    if problem:
        print(f"check-report: FAILED: {problem}", file=sys.stderr)
        return 1
    meta = json.loads((Path(args.report_dir) / "run.json").read_text())
    print(
        f"check-report: OK ({args.report_dir}: commit {str(meta.get('git_sha'))[:12]}, "
        f"source hash {meta.get('source_hash')})"
    )
    return 0
