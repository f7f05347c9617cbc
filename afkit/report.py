"""The reproduction report (``OUT/REPORT.md`` + ``OUT/report.html``), read like a paper's results
section, and the checks that it is what a reader should trust.

:func:`build_report` writes, from the files of a reproduction run (``run.json``, ``results/``,
``tables/``, ``figures/``): the data banner, a provenance line (commit, clean tree or not,
:func:`timing_line`), a table of contents, then

- **Findings**: for every notebook that saved a computed answer (``results/NN_name.json`` with
  ``data["answer"]``, Markdown), that answer, its headline table (:data:`HEADLINE`, else its first
  table; a column subset when the table is wide) and its headline figure;
- **Details**: the run metadata, the notebooks table (status, time, the regenerating command) and
  every notebook's section: each table (a table longer than :data:`LONG_TABLE_ROWS` rows is
  summarised by its first rows and linked as CSV) and each figure.

The HTML carries the same content as the Markdown; every table sits in a horizontally scrolling
box, so no table widens the page.

:func:`check_main` (``python -m afkit check-report [REPORT_DIR]``) fails when a published report
was made from a dirty tree or from other afkit/ or notebooks/ files than the current ones.
:func:`screenshot_report` and :func:`check_report_in_browser` look at the HTML through headless
chromium.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIGURE_FORMATS = (".png", ".svg", ".pdf", ".jpg", ".jpeg")
TABLE_ROWS_SHOWN = 60   # a table is never printed past this many rows
LONG_TABLE_ROWS = 30    # longer tables are summarised (first rows) and linked as CSV
SUMMARY_ROWS = 10       # rows shown of a long table
FINDINGS_COLUMNS = 8    # the findings show the first columns of a wide headline table, unless
# it has these (the answer's columns: what it is, its size, its test scores), shown in this order
FINDINGS_PREFERRED = ("label", "reading", "num_classes", "method", "model", "trained", "params", "head_share",
                      "paper_head_share", "gap_mean", "gap_std", "gap", "gap_on", "gap_off", "gap_diff", "gap_lo",
                      "gap_hi", "micro_f1_tuned_mean", "micro_f1_tuned_std", "micro_f1_tuned", "map_mean", "mean",
                      "ci_low", "ci_high", "n", "matters", "seeds", "learned", "paper_f1_pct")
FINDINGS_MAX_COLUMNS = 11

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
    "10_readings": ("10_readings", "10_readings_gap_vs_params"),
}


# ---------------------------------------------------------------------------------- formatting
def _fmt(v) -> str:
    if isinstance(v, float):
        if v != v:
            return ""
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
    return str(v)


def _markdown_table(df, max_rows: int = TABLE_ROWS_SHOWN) -> str:
    shown = df.head(max_rows)

    def cell(v) -> str:
        return _fmt(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in shown.columns) + " |",
             "|" + "|".join("---" for _ in shown.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    if len(df) > max_rows:
        lines.append(f"\n*first {max_rows} of {len(df)} rows*")
    return "\n".join(lines)


def _html_table(df, table_id: str, max_rows: int = TABLE_ROWS_SHOWN) -> str:
    shown = df.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
                     for row in shown.itertuples(index=False))
    note = (f'<p class="note">first {max_rows} of {len(df)} rows</p>' if len(df) > max_rows else "")
    return (f'<div class="scroll"><table id="{html.escape(table_id)}" class="data"><thead><tr>{head}</tr></thead>'
            f"<tbody>\n{body}\n</tbody></table></div>{note}")


def _inline_code(text: str) -> str:
    return re.sub(r"`(.+?)`", r"<code>\1</code>", html.escape(text))


def _inline(text: str) -> str:
    """Markdown inline spans as HTML: `code`, **bold**, *italic*, [text](url); the rest escaped."""
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if len(part) > 1 and part.startswith("`") and part.endswith("`"):
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
            continue
        h = html.escape(part, quote=False)
        h = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", h)
        h = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", h)
        h = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", lambda m: f'<a href="{html.escape(m.group(2))}">{m.group(1)}</a>', h)
        out.append(h)
    return "".join(out)


def markdown_to_html(text: str) -> str:
    """The Markdown of a notebook's answer as HTML: paragraphs, bullet and numbered lists, pipe
    tables, headings (as ``h4``) and the inline spans of :func:`_inline`."""
    blocks, cur = [], []
    for line in str(text).splitlines():
        if line.strip():
            cur.append(line.rstrip())
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    out = []
    for block in blocks:
        if all(re.match(r"\s*[-*+] ", ln) or (ln.startswith("  ") and i) for i, ln in enumerate(block)):
            items = []
            for ln in block:
                if re.match(r"\s*[-*+] ", ln):
                    items.append(re.sub(r"^\s*[-*+] ", "", ln))
                else:
                    items[-1] += " " + ln.strip()
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
        elif all(re.match(r"\s*\d+[.)] ", ln) or (ln.startswith("  ") and i) for i, ln in enumerate(block)):
            items = []
            for ln in block:
                if re.match(r"\s*\d+[.)] ", ln):
                    items.append(re.sub(r"^\s*\d+[.)] ", "", ln))
                else:
                    items[-1] += " " + ln.strip()
            out.append("<ol>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ol>")
        elif len(block) >= 2 and all(ln.lstrip().startswith("|") for ln in block) \
                and re.fullmatch(r"\s*\|?[\s:|-]+\|?\s*", block[1]):
            def cells(ln):
                return [c.strip() for c in re.split(r"(?<!\\)\|", ln.strip().strip("|"))]
            head = "".join(f"<th>{_inline(c)}</th>" for c in cells(block[0]))
            body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in cells(ln)) + "</tr>"
                           for ln in block[2:])
            out.append(f'<div class="scroll"><table class="data answer"><thead><tr>{head}</tr></thead>'
                       f"<tbody>{body}</tbody></table></div>")
        elif block[0].startswith("#"):
            out.append(f"<h4>{_inline(block[0].lstrip('#').strip())}</h4>")
            if block[1:]:
                out.append("<p>" + _inline(" ".join(block[1:])) + "</p>")
        elif all(ln.startswith(">") for ln in block):
            out.append("<blockquote><p>" + _inline(" ".join(ln.lstrip("> ") for ln in block)) + "</p></blockquote>")
        else:
            out.append("<p>" + _inline(" ".join(ln.strip() for ln in block)) + "</p>")
    return "\n".join(out)


def slug(text: str, seen: dict | None = None) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens (``-1``,
    ``-2`` ... appended to a repeat when ``seen`` is passed)."""
    s = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
    if seen is not None:
        n = seen.get(s, 0)
        seen[s] = n + 1
        if n:
            s = f"{s}-{n}"
    return s


def _seconds(s) -> str:
    if s is None:
        return "n/a"
    s = float(s)
    return f"{s:.1f} s" if s < 120 else f"{int(s // 60)} min {s % 60:02.0f} s"


def _rel(p) -> str:
    try:
        return str(Path(p).resolve().relative_to(REPO))
    except ValueError:
        return str(p)


def _banner(meta: dict) -> tuple[str, str]:
    """(Markdown, HTML) of the data banner."""
    source = meta.get("data_source")
    if source == "synthetic":
        text = ("Every number and figure in this report was computed on afkit's **synthetic** data "
                "set (generated in the YouTube-8M release format), not on the real YouTube-8M. "
                "They show how the code and the models behave; they are not YouTube-8M scores and "
                "must not be compared with the paper's numbers as if they were.")
        cls = "banner synthetic"
    elif source == "real":
        text = f"Data: the YouTube-8M release at `{meta.get('data_dir')}`."
        cls = "banner real"
    else:
        text = ("The data source of this run was not recorded: treat every number as coming from "
                "unknown data.")
        cls = "banner unknown"
    return f"> **Data.** {text}", f'<div class="{cls}"><strong>Data.</strong> {_inline(text)}</div>'


# -------------------------------------------------------------------------------------- timing
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
    meta = json.loads(Path(run_json).read_text()) if isinstance(run_json, (str, os.PathLike)) else dict(run_json)
    cmd = meta.get("command") or f"python -m afkit reproduce --profile {meta.get('profile', 'cpu')}"
    total = meta.get("seconds")
    nbs = {k: v.get("seconds") for k, v in meta.get("notebooks", {}).items() if v.get("seconds") is not None}
    head = (f"`{cmd}` took {_minutes(total)}" if total is not None else f"`{cmd}` took an unrecorded time")
    head += f" on {_machine_words(meta.get('machine', {}))}"
    if nbs:
        longest = max(nbs, key=nbs.get)
        head += f"; the longest of its {len(nbs)} notebooks, {longest}, took {_minutes(nbs[longest])}"
    reused, trained = meta.get("reused_runs"), meta.get("trained_runs")
    if reused is None:
        how = "whether it reused earlier training runs was not recorded"
    elif reused == 0:
        how = f"it ran from scratch ({trained or 0} training runs trained)"
    else:
        how = (f"it reused {reused} finished training run{'s' if reused != 1 else ''} of an earlier invocation "
               f"({trained or 0} trained)")
    return f"{head}; {how}."


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


# ------------------------------------------------------------------------------------- report
_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1100px;margin:0 auto;
padding:1.2em 1.5em;color:#222;line-height:1.45;overflow-wrap:break-word}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
.banner{padding:.8em 1em;border-radius:6px;margin:1em 0;border:1px solid}
.banner.synthetic{background:#fff4e5;border-color:#e69f00}
.banner.real{background:#e8f4fb;border-color:#0072b2} .banner.unknown{background:#eee;border-color:#999}
.scroll{overflow-x:auto;max-width:100%}
table.data,table.meta{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em}
table.data th,table.data td,table.meta th,table.meta td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
table.data th,table.meta th{background:#f3f3f3} table.meta td,table.meta th{text-align:left}
table.meta td{overflow-wrap:anywhere} table.answer td,table.answer th{text-align:left}
figure{margin:1em 0} figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#444} code{background:#f3f3f3;padding:0 .25em;border-radius:3px;overflow-wrap:anywhere}
.ok{color:#096b2e;font-weight:bold} .failed,.timeout{color:#b00020;font-weight:bold}
.error{background:#fdecee;border-left:4px solid #b00020;padding:.5em 1em} .note{color:#666;font-size:.85em}
.answer-text{background:#f6f8fa;border-left:4px solid #0072b2;padding:.2em 1em;margin:.6em 0}
nav.toc{background:#fafafa;border:1px solid #e3e3e3;border-radius:6px;padding:.4em 1em;margin:1em 0}
nav.toc ul{margin:.2em 0;padding-left:1.4em} nav.toc ul ul{column-width:24em;column-gap:2em}
nav.toc li li{break-inside:avoid} .provenance{font-size:.95em}
"""


def findings_columns(df) -> list:
    """The columns of a headline table shown in the findings: all of a narrow table; of a wide
    one, those of :data:`FINDINGS_PREFERRED` it has (``model`` dropped beside ``label``), else
    its first :data:`FINDINGS_COLUMNS`."""
    cols = list(df.columns)
    if len(cols) <= FINDINGS_COLUMNS:
        return cols
    chosen = [c for c in FINDINGS_PREFERRED if c in cols]
    if "label" in chosen and "model" in chosen:
        chosen.remove("model")
    if len(chosen) < 3:
        return cols[:FINDINGS_COLUMNS]
    return chosen[:FINDINGS_MAX_COLUMNS]


def _load_table(path: Path):
    import pandas as pd

    try:
        return pd.read_csv(path), None
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as e:
        return None, str(e)


class _Doc:
    """Markdown and HTML written side by side (the same content in both)."""

    def __init__(self):
        self.md: list[str] = []
        self.ht: list[str] = []
        self.toc: list[tuple[int, str, str]] = []  # (level, text, anchor)
        self._seen: dict = {}
        self.n_table = 0

    def heading(self, level: int, text: str, *, code: bool = False, toc: bool = True) -> str:
        """A heading (``code``: the text is an identifier, shown as code); returns its anchor."""
        anchor = slug(text, self._seen)
        self.md += [f"{'#' * level} {'`' + text + '`' if code else text}", ""]
        inner = f"<code>{html.escape(text)}</code>" if code else html.escape(text)
        self.ht.append(f'<h{level} id="{html.escape(anchor)}">{inner}</h{level}>')
        if toc:
            self.toc.append((level, text, anchor))
        return anchor

    def para(self, md: str, ht: str | None = None, cls: str | None = None) -> None:
        self.md += [md, ""]
        c = f' class="{cls}"' if cls else ""
        self.ht.append(f"<p{c}>{ht if ht is not None else _inline(md)}</p>")

    def table(self, df, *, rel_csv: str, file: str, cmd: str | None, columns: list | None = None,
              details_anchor: str | None = None) -> None:
        """A CSV table: the whole table up to :data:`LONG_TABLE_ROWS` rows, else its first
        :data:`SUMMARY_ROWS` rows and a link to the CSV; ``columns`` keeps those columns."""
        self.n_table += 1
        shown = df
        notes = []
        if columns is not None and len(columns) < len(df.columns):
            shown = df[list(columns)]
            notes.append(f"{len(columns)} of {len(df.columns)} columns")
        long = len(df) > LONG_TABLE_ROWS
        rows = SUMMARY_ROWS if long else len(df)
        body_md = _markdown_table(shown, max_rows=max(rows, 1)).split("\n\n*first")[0]
        body_ht = _html_table(shown, f"table-{self.n_table}", max_rows=max(rows, 1)).split('<p class="note">first')[0]
        if long:
            notes.insert(0, f"first {rows} of {len(df)} rows")
        what = f"{len(df)} rows" + (f" ({', '.join(notes)})" if notes else "")
        md_note = f"*{what}; file [`{file}`]({rel_csv})"
        ht_note = f'{html.escape(what)}; file <a href="{html.escape(rel_csv)}"><code>{html.escape(file)}</code></a>'
        if details_anchor and notes:
            md_note += f"; every column in [Details](#{details_anchor})"
            ht_note += f'; every column in <a href="#{html.escape(details_anchor)}">Details</a>'
        if cmd:
            md_note += f"; regenerate: `{cmd}`"
            ht_note += f"; regenerate: <code>{html.escape(cmd)}</code>"
        self.md += [body_md, "", md_note + "*", ""]
        self.ht.append(body_ht + f'<p class="note">{ht_note}</p>')

    def figure(self, stem: str, shown: str | None, links: list[str], cmd: str | None) -> None:
        self.md.append(f"**Figure `{stem}`**")
        self.ht.append(f"<figure><p><strong>Figure <code>{html.escape(stem)}</code></strong></p>")
        if shown:
            self.md += ["", f"![{stem}]({shown})", ""]
            self.ht.append(f'<img src="{html.escape(shown)}" alt="{html.escape(stem)}" loading="eager">')
        also = (" Also: " + ", ".join(f"[{Path(x).suffix[1:]}]({x})" for x in links) + ".") if links else ""
        also_h = (" Also: " + ", ".join(f'<a href="{html.escape(x)}">{html.escape(Path(x).suffix[1:])}</a>'
                                        for x in links) + ".") if links else ""
        regen = f"Regenerate: `{cmd}`." if cmd else ""
        regen_h = f"Regenerate: <code>{html.escape(cmd)}</code>." if cmd else ""
        self.md += [f"*{regen}{also}*" if (regen or also) else "", ""]
        self.ht.append(f"<figcaption>{regen_h}{also_h}</figcaption></figure>")


def _toc(doc: _Doc) -> tuple[list[str], str]:
    md = ["**Contents**", ""]
    ht = ['<nav class="toc"><strong>Contents</strong><ul>']
    level_open = 2
    first = True
    for level, text, anchor in doc.toc:
        if level > 3:
            continue
        indent = "  " * (level - 2)
        md.append(f"{indent}- [{text}](#{anchor})")
        if level > level_open:
            ht.append("<ul>")
        elif level < level_open:
            ht.append("</li></ul></li>")
        elif not first:
            ht.append("</li>")
        level_open = level
        first = False
        ht.append(f'<li><a href="#{html.escape(anchor)}">{html.escape(text)}</a>')
    ht.append("</li>" + "</ul></li>" * (level_open - 2) + "</ul></nav>")
    return md + [""], "".join(ht)


def _provenance(meta: dict) -> tuple[str, str] | None:
    if not meta:
        return None
    sha = meta.get("git_sha")
    clean = meta.get("tree_clean")
    if clean is None and sha:
        clean = not str(sha).endswith("+dirty")
    state = "not recorded" if clean is None else ("clean tree" if clean else "**dirty tree** (uncommitted changes)")
    commit = f"commit `{str(sha).removesuffix('+dirty')[:12]}`" if sha else "an unrecorded commit"
    text = f"Made from {commit}, {state}; profile `{meta.get('profile', '?')}`. " + timing_line(meta)
    return text, _inline(text)


def build_report(out_dir, *, dest_dir=None, figures_dir=None, link_notebooks: bool = True,
                 title: str = "afkit reproduction report") -> tuple[Path, Path]:
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
    from afkit.reproduce import describe_failure, notebook_title, paths, regenerate_command

    out = paths(out_dir, create=False)
    if not out.root.is_dir():
        raise FileNotFoundError(f"output folder {out.root} does not exist")
    dest = Path(dest_dir).resolve() if dest_dir is not None else out.root
    dest.mkdir(parents=True, exist_ok=True)
    fig_dir = Path(figures_dir).resolve() if figures_dir is not None else out.figures
    meta = json.loads(out.run_json.read_text()) if out.run_json.exists() else {}
    runs: dict = meta.get("notebooks", {})

    all_files = sorted(str(p.relative_to(out.root)) for d in (out.figures, out.tables, out.results)
                       if d.is_dir() for p in d.iterdir() if p.is_file())
    owner: dict[str, str] = {}
    for name, rec in sorted(runs.items()):
        for f in rec.get("outputs", []):
            owner[f] = name
    sections = [(name, runs[name]) for name in sorted(runs)]
    orphans = [f for f in all_files if f not in owner]
    if orphans:
        sections.append(("Other outputs" if runs else "Outputs", None))

    def csv_link(f: str) -> str:
        target = dest / f if (dest / f).exists() else out.root / f
        return os.path.relpath(target, dest)

    def figure_group(files: list[str]) -> dict[str, list[str]]:
        stems: dict[str, list[str]] = {}
        for f in files:
            if f.startswith("figures/") and f.lower().endswith(FIGURE_FORMATS):
                stems.setdefault(Path(f).stem, []).append(f)
        return stems

    def figure_links(group: list[str]) -> tuple[str | None, list[str]]:
        shown = next((g for g in group if g.lower().endswith((".png", ".jpg", ".jpeg", ".svg"))), None)
        others = [g for g in group if g != shown]
        rel = (lambda g: os.path.relpath(fig_dir / Path(g).name, dest))
        return (rel(shown) if shown else None), [rel(g) for g in others]

    def files_of(name: str, rec) -> list[str]:
        return [f for f in all_files if owner.get(f) == name] if rec is not None else orphans

    def title_of(name: str, rec) -> str | None:
        for key in ("input", "output"):
            p = rec.get(key) if rec else None
            if p:
                p = Path(p) if Path(p).is_absolute() else out.root / p
                if p.exists():
                    try:
                        return notebook_title(p)
                    except Exception:  # an unreadable notebook: the report goes on without its title
                        return None
        return None

    # the computed answers: results/*.json with data.answer
    answers = []
    for f in all_files:
        if f.startswith("results/") and f.endswith(".json"):
            try:
                res = json.loads((out.root / f).read_text())
            except (OSError, json.JSONDecodeError):
                continue
            answer = (res.get("data") or {}).get("answer") if isinstance(res, dict) else None
            if isinstance(answer, str) and answer.strip():
                answers.append((owner.get(f) or Path(f).stem, f, answer))

    doc = _Doc()
    # anchors of the details' sections are fixed before the findings link to them
    details_anchor = {}
    reserve = _Doc()
    for h in ("Findings", "Details", "Run", "Notebooks"):
        reserve.heading(2, h)
    for name, _ in sections:
        details_anchor[name] = reserve.heading(3, name)

    # ---- findings
    doc.heading(2, "Findings")
    if not answers:
        doc.para("*No notebook saved a computed answer (`results/NN_name.json` with `data.answer`).*")
    for name, res_file, answer in answers:
        rec = runs.get(name)
        nb_title = title_of(name, rec)
        doc.heading(3, nb_title or f"{name}: the computed answer")
        doc.md += [answer.strip(), ""]
        doc.ht.append(f'<div class="answer-text">{markdown_to_html(answer)}</div>')
        files = [f for f in all_files if owner.get(f) == name] if name in runs else \
            [f for f in all_files if Path(f).stem.startswith(name[:3])]
        table_stem, fig_stem = HEADLINE.get(name, HEADLINE.get(Path(res_file).stem, (None, None)))
        tables = [f for f in files if f.startswith("tables/") and f.endswith(".csv")]
        table = next((f for f in tables if Path(f).stem == table_stem), tables[0] if tables else None)
        cmd = regenerate_command(meta, name) if name in runs else None
        anchor = details_anchor.get(name if name in runs else "Other outputs" if runs else "Outputs")
        if table:
            df, err = _load_table(out.root / table)
            if df is not None:
                doc.md += [f"**Table `{Path(table).stem}`**", ""]
                doc.ht.append(f"<p><strong>Table <code>{html.escape(Path(table).stem)}</code></strong></p>")
                doc.table(df, rel_csv=csv_link(table), file=table, cmd=None, columns=findings_columns(df),
                          details_anchor=anchor)
        stems = figure_group(files)
        fig = fig_stem if fig_stem in stems else next(iter(stems), None)
        if fig:
            shown, links = figure_links(stems[fig])
            doc.figure(fig, shown, links, cmd)

    # ---- details
    doc.heading(2, "Details")
    mach = meta.get("machine", {})
    clean = meta.get("tree_clean")
    rows = [("git commit", meta.get("git_sha")),
            ("tree", None if clean is None else ("clean" if clean else "dirty (uncommitted changes)")),
            ("source hash (afkit/, notebooks/)", f"`{meta['source_hash']}`" if meta.get("source_hash") else None),
            ("training code hash", f"`{meta['code_hash']}`" if meta.get("code_hash") else None),
            ("profile", meta.get("profile")),
            ("seed", meta.get("seed")), ("device", meta.get("device")),
            ("data", f"{meta.get('data_source', 'unknown')} ({_rel(meta['data_dir'])})" if meta.get("data_dir") else None),
            ("started (UTC)", meta.get("started")), ("total time", _seconds(meta.get("seconds")) if meta else None),
            ("training runs", None if meta.get("reused_runs") is None else
             f"{meta['reused_runs']} reused, {meta.get('trained_runs', 0)} trained"),
            ("machine", ", ".join(str(x) for x in (mach.get("cpu"), f"{mach.get('cores')} cores" if mach.get("cores") else None,
                                                   mach.get("memory"), mach.get("gpu") or ("no GPU" if mach else None)) if x)),
            ("OS / Python", f"{mach.get('os')} / Python {mach.get('python')}" if mach.get("os") else None),
            ("versions", ", ".join(f"{k} {v}" for k, v in mach.get("versions", {}).items()) or None),
            ("command", f"`{meta['command']}`" if meta.get("command") else None)]
    rows = [(k, v) for k, v in rows if v not in (None, "")]
    if rows:
        doc.heading(3, "Run")
        doc.md += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows] + [""]
        doc.ht.append('<div class="scroll"><table class="meta">' + "".join(
            f"<tr><th>{html.escape(k)}</th><td>{_inline_code(str(v))}</td></tr>" for k, v in rows) + "</table></div>")
    if runs:
        doc.heading(3, "Notebooks")
        doc.md += ["| notebook | status | time | regenerate |", "|---|---|---|---|"]
        trs = []
        for name, rec in sections:
            if rec is None:
                continue
            cmd = regenerate_command(meta, name)
            a = details_anchor[name]
            doc.md.append(f"| [{name}](#{a}) | {rec['status']} | {_seconds(rec.get('seconds'))} | `{cmd}` |")
            trs.append(f'<tr><td><a href="#{html.escape(a)}">{html.escape(name)}</a></td>'
                       f'<td class="{html.escape(rec["status"])}">{html.escape(rec["status"])}</td>'
                       f"<td>{_seconds(rec.get('seconds'))}</td><td><code>{html.escape(cmd)}</code></td></tr>")
        doc.md.append("")
        doc.ht.append('<div class="scroll"><table class="meta"><thead><tr><th>notebook</th><th>status</th>'
                      "<th>time</th><th>regenerate</th></tr></thead><tbody>" + "".join(trs) + "</tbody></table></div>")

    for name, rec in sections:
        files = files_of(name, rec)
        cmd = regenerate_command(meta, name if rec is not None else None)
        doc.heading(3, name)
        if rec is not None:
            nb_title = title_of(name, rec)
            if nb_title:
                doc.para(f"*{nb_title}*")
            status = rec["status"]
            nb_link_md = nb_link = ""
            if link_notebooks and rec.get("output") and (out.root / rec["output"]).exists():
                rel = os.path.relpath(out.root / rec["output"], dest)
                nb_link_md = f" Executed notebook: [{rec['output']}]({rel})."
                nb_link = f' Executed notebook: <a href="{html.escape(rel)}">{html.escape(rec["output"])}</a>.'
            doc.para(f"**{status}** in {_seconds(rec.get('seconds'))}. Regenerate: `{cmd}`{nb_link_md}",
                     f'<span class="{html.escape(status)}">{html.escape(status)}</span> in '
                     f"{_seconds(rec.get('seconds'))}. Regenerate: <code>{html.escape(cmd)}</code>.{nb_link}")
            if rec.get("error"):
                msg = describe_failure(rec)
                doc.md += [f"> **Failed.** {msg}", ""]
                doc.ht.append(f'<div class="error"><strong>Failed.</strong> {html.escape(msg)}</div>')
        else:
            doc.para(f"Regenerate: `{cmd}`")
        for f in [f for f in files if f.startswith("tables/") and f.endswith(".csv")]:
            stem = Path(f).stem
            doc.md += [f"**Table `{stem}`**", ""]
            doc.ht.append(f"<p><strong>Table <code>{html.escape(stem)}</code></strong></p>")
            df, err = _load_table(out.root / f)
            if df is None:
                doc.md += [f"(unreadable CSV: {err})", ""]
                doc.ht.append(f"<p class='error'>unreadable CSV: {html.escape(err)}</p>")
                continue
            doc.table(df, rel_csv=csv_link(f), file=f, cmd=cmd)
        for stem, group in figure_group(files).items():
            shown, links = figure_links(group)
            doc.figure(stem, shown, links, cmd)
        results = [f for f in files if f.startswith("results/")]
        if results:
            doc.para("Results files: " + ", ".join(f"`{f}`" for f in results))
        if rec is not None and not files:
            doc.para("*(no figures or tables)*", "(no figures or tables)", cls="note")

    md = [f"# {title}", ""]
    ht = [f"<h1>{html.escape(title)}</h1>"]
    b_md, b_html = _banner(meta)
    md += [b_md, ""]
    ht.append(b_html)
    prov = _provenance(meta)
    if prov:
        md += [prov[0], ""]
        ht.append(f'<p class="provenance">{prov[1]}</p>')
    toc_md, toc_ht = _toc(doc)
    md += toc_md + doc.md
    ht += [toc_ht] + doc.ht

    md_path = dest / "REPORT.md"
    html_path = dest / "report.html"
    md_path.write_text("\n".join(md).rstrip() + "\n")
    html_path.write_text("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                         f"<meta name=\"viewport\" content=\"width=device-width\"><title>{html.escape(title)}</title>"
                         f"<style>{_CSS}</style></head><body>\n" + "\n".join(ht) + "\n</body></html>\n")
    return md_path, html_path


# ------------------------------------------------------------------------------- check-report
def check_report(report_dir, repo=None) -> str | None:
    """Why the report in ``report_dir`` cannot be trusted for the tree at ``repo`` (default this
    checkout), as one sentence; None when it can: its ``run.json`` says it was made from a clean
    tree, and the source hash it records equals that of ``repo``'s afkit/ and notebooks/ now."""
    from afkit import provenance

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
        return (f"the report was made from a dirty tree (git {sha}): commit, then rerun make reproduce")
    if clean is None:
        return f"{run} records no git state (tree_clean): rerun make reproduce"
    recorded = meta.get("source_hash")
    if not recorded:
        return f"{run} records no source_hash of afkit/ and notebooks/: rerun make reproduce"
    now = provenance.source_files(repo)
    if provenance.source_hash(repo) != recorded:
        before = meta.get("source_files") or {}
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k)) if before else []
        which = f" ({', '.join(changed[:5])}{', ...' if len(changed) > 5 else ''})" if changed else ""
        return (f"afkit/ or notebooks/ changed since the report was made{which}: source hash "
                f"{recorded} recorded, {provenance.source_hash(repo)} now; rerun make reproduce")
    return None


def check_main(argv=None) -> int:
    """``python -m afkit check-report [REPORT_DIR] [--repo PATH]``: exit 1 with one line when the
    published report is stale (see :func:`check_report`), else print OK and exit 0."""
    ap = argparse.ArgumentParser(prog="python -m afkit check-report",
                                 description="Fail when the published report was made from a dirty tree or "
                                             "from other afkit/ or notebooks/ files than the current ones.")
    ap.add_argument("report_dir", nargs="?", default=str(REPO / "report"), help="default: report/")
    ap.add_argument("--repo", default=None, help="the tree whose afkit/ and notebooks/ to compare (default: this checkout)")
    args = ap.parse_args(argv)
    problem = check_report(args.report_dir, args.repo)
    if problem:
        print(f"check-report: FAILED: {problem}", file=sys.stderr)
        return 1
    meta = json.loads((Path(args.report_dir) / "run.json").read_text())
    print(f"check-report: OK ({args.report_dir}: commit {str(meta.get('git_sha'))[:12]}, "
          f"source hash {meta.get('source_hash')})")
    return 0


# -------------------------------------------------------------------------------------- browser
def find_chromium() -> str | None:
    """Path of a chromium/chrome executable (``$CHROMIUM`` first), or None."""
    env = os.environ.get("CHROMIUM")
    if env and shutil.which(env):
        return shutil.which(env)
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


_CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   "--allow-file-access-from-files", "--hide-scrollbars", "--mute-audio")


def _chromium(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError("chromium is not installed (Debian: apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="afkit-chromium-") as profile:
        cmd = [exe, *_CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise TimeoutError(f"chromium did not finish within {timeout:g} s") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def screenshot_report(html_path, png_path=None, *, window: str = "1280,900", timeout: float = 90) -> Path:
    """Screenshot of the first screen of ``html_path`` (headless chromium) as ``png_path``
    (default ``report.png`` beside it); raises FileNotFoundError without chromium."""
    html_path = Path(html_path).resolve()
    png = Path(png_path).resolve() if png_path else html_path.with_suffix(".png")
    if png.exists():
        png.unlink()
    proc = _chromium([f"--screenshot={png}", f"--window-size={window}", "--virtual-time-budget=5000",
                      html_path.as_uri()], timeout)
    if not png.exists() or png.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-500:]}")
    return png


_CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.map.call(document.images, function (i) {
    return {src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth, height: i.naturalHeight};
  });
  var tables = Array.prototype.map.call(document.querySelectorAll('table'), function (t) {
    var body = t.querySelectorAll('tbody tr').length;
    return {id: t.id, cls: t.className, rows: body, height: t.getBoundingClientRect().height};
  });
  var page = {scroll_width: document.documentElement.scrollWidth, inner_width: window.innerWidth};
  var pre = document.createElement('pre');
  pre.id = 'afkit-browser-check';
  var text = document.body.innerText;
  pre.textContent = 'AFKIT-' + 'CHECK' + JSON.stringify({images: imgs, tables: tables, page: page, text: text})
    + 'AFKIT-' + 'END';
  document.body.appendChild(pre);
});
</script>"""


def check_report_in_browser(html_path, *, window: str = "1280,900", timeout: float = 90) -> dict:
    """Loads ``html_path`` in headless chromium (a ``window`` of that size) and reports what a
    reader's browser sees.

    Returns ``{"images": [{src, complete, width, height}], "tables": [{id, cls, rows, height}],
    "page": {scroll_width, inner_width}, "text": the page's visible text}`` with ``width`` =
    ``naturalWidth`` (0 for an image that failed to load) and ``rows`` the number of body rows;
    ``scroll_width`` above ``inner_width`` means something widens the page. The page is loaded
    from a sibling copy with a probe script (so that relative links resolve exactly as for the
    report), which is removed afterwards.
    """
    html_path = Path(html_path).resolve()
    text = html_path.read_text()
    if "</body>" not in text:
        raise ValueError(f"{html_path} has no </body>")
    probe = html_path.with_name(f".afkit-check-{os.getpid()}-{html_path.name}")
    probe.write_text(text.replace("</body>", _CHECK_SCRIPT + "</body>", 1))
    try:
        proc = _chromium([f"--window-size={window}", "--virtual-time-budget=10000", "--dump-dom",
                          probe.as_uri()], timeout)
    finally:
        probe.unlink(missing_ok=True)
    m = re.search(r'<pre id="afkit-browser-check">AFKIT-CHECK(.*?)AFKIT-END</pre>', proc.stdout, re.S)
    if not m:
        raise RuntimeError(f"the probe did not run in chromium (exit {proc.returncode}): {proc.stderr[-800:]}")
    return json.loads(html.unescape(m.group(1)))
