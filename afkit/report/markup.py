"""Markdown and HTML of one document: the report is a list of blocks, each holding what it shows
once and rendering it twice (``to_markdown()``: Markdown lines; ``to_html()``: an HTML string).

The blocks: :class:`Heading`, :class:`Paragraph`, :class:`Callout` (the data banner, a
failure), :class:`Answer` (a notebook's computed answer, Markdown converted by
:func:`markdown_to_html`), :class:`Status` (a notebook's status line), :class:`Table` (a CSV
table, summarised when long), :class:`Figure`, :class:`RunTable` (the run's metadata),
:class:`NotebookIndex` and :class:`Contents`. :class:`Document` gathers them, giving headings
GitHub's anchors (:func:`slug`) and tables their numbers; :func:`render_markdown` and
:func:`render_html` write the two files' text. :func:`markdown_table` also serves
``python -m afkit notebooks --markdown``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

TABLE_ROWS_SHOWN = 60  # a table is never printed past this many rows
LONG_TABLE_ROWS = 30  # longer tables are summarised (first rows) and linked as CSV
SUMMARY_ROWS = 10  # rows shown of a long table


# -------------------------------------------------------------------------------- formatting
def _fmt(v) -> str:
    if isinstance(v, float):
        if v != v:
            return ""
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
    return str(v)


def markdown_table(df, max_rows: int = TABLE_ROWS_SHOWN) -> str:
    """A pipe table of ``df``'s first ``max_rows`` rows (floats to 4 significant digits, pipes
    escaped), with a line saying so when rows are left out."""
    shown = df.head(max_rows)

    def cell(v) -> str:
        return _fmt(v).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(cell(c) for c in shown.columns) + " |",
        "|" + "|".join("---" for _ in shown.columns) + "|",
    ]
    lines += [
        "| " + " | ".join(cell(v) for v in row) + " |" for row in shown.itertuples(index=False)
    ]
    if len(df) > max_rows:
        lines.append(f"\n*first {max_rows} of {len(df)} rows*")
    return "\n".join(lines)


def _html_table(df, table_id: str) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
        for row in df.itertuples(index=False)
    )
    return (
        f'<div class="scroll"><table id="{html.escape(table_id)}" class="data"><thead><tr>{head}</tr></thead>'
        f"<tbody>\n{body}\n</tbody></table></div>"
    )


def _inline_code(text: str) -> str:
    return re.sub(r"`(.+?)`", r"<code>\1</code>", html.escape(text))


SAFE_SCHEMES = ("http:", "https:", "mailto:")


def safe_url(url: str) -> bool:
    """Whether a Markdown link's target may become a live link: ``http``, ``https`` and
    ``mailto`` URLs and relative ones (a path, ``#anchor``); no other scheme (``javascript:``,
    ``data:``, ...), nor control characters that a browser would strip in front of one."""
    u = html.unescape(url)
    if not all(ch.isprintable() and not ch.isspace() for ch in u):
        return False
    if u.lower().startswith(SAFE_SCHEMES):
        return True
    return ":" not in re.split(r"[/?#]", u, maxsplit=1)[0]


def _link(m: re.Match) -> str:
    text, url = m.group(1), m.group(2)
    if not safe_url(url):
        return f"{text} ({html.escape(url)})"  # shown, not linked
    return f'<a href="{html.escape(url)}">{text}</a>'


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
        h = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", _link, h)
        out.append(h)
    return "".join(out)


_BULLET, _NUMBERED = r"\s*[-*+] ", r"\s*\d+[.)] "


def _html_list(block: list[str], marker: str, tag: str) -> str | None:
    """A Markdown list (items starting with ``marker``, continuation lines indented by two
    spaces) as ``<tag>`` HTML; None when ``block`` is not such a list."""
    if not all(re.match(marker, ln) or (ln.startswith("  ") and i) for i, ln in enumerate(block)):
        return None
    items = []
    for ln in block:
        if re.match(marker, ln):
            items.append(re.sub("^" + marker, "", ln))
        else:
            items[-1] += " " + ln.strip()
    return f"<{tag}>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + f"</{tag}>"


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
        listed = _html_list(block, _BULLET, "ul") or _html_list(block, _NUMBERED, "ol")
        if listed:
            out.append(listed)
        elif (
            len(block) >= 2
            and all(ln.lstrip().startswith("|") for ln in block)
            and re.fullmatch(r"\s*\|?[\s:|-]+\|?\s*", block[1])
        ):

            def cells(ln):
                return [c.strip() for c in re.split(r"(?<!\\)\|", ln.strip().strip("|"))]

            head = "".join(f"<th>{_inline(c)}</th>" for c in cells(block[0]))
            body = "".join(
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in cells(ln)) + "</tr>"
                for ln in block[2:]
            )
            out.append(
                f'<div class="scroll"><table class="data answer"><thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table></div>"
            )
        elif block[0].startswith("#"):
            out.append(f"<h4>{_inline(block[0].lstrip('#').strip())}</h4>")
            if block[1:]:
                out.append("<p>" + _inline(" ".join(block[1:])) + "</p>")
        elif all(ln.startswith(">") for ln in block):
            out.append(
                "<blockquote><p>"
                + _inline(" ".join(ln.lstrip("> ") for ln in block))
                + "</p></blockquote>"
            )
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


CSS = """
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


# ------------------------------------------------------------------------------------ blocks
@dataclass
class Heading:
    level: int
    text: str
    anchor: str | None = None  # None: the title (no id, not in the contents)

    def torender_markdown(self) -> list[str]:
        return [f"{'#' * self.level} {self.text}", ""]

    def to_html(self) -> str:
        ident = f' id="{html.escape(self.anchor)}"' if self.anchor is not None else ""
        return f"<h{self.level}{ident}>{html.escape(self.text)}</h{self.level}>"


@dataclass
class Paragraph:
    text: str  # Markdown
    markup: str | None = None  # its HTML, where the inline spans of _inline do not give it
    cls: str | None = None

    def torender_markdown(self) -> list[str]:
        return [self.text, ""]

    def to_html(self) -> str:
        c = f' class="{self.cls}"' if self.cls else ""
        return f"<p{c}>{self.markup if self.markup is not None else _inline(self.text)}</p>"


def table_label(stem: str) -> Paragraph:
    return Paragraph(
        f"**Table `{stem}`**", f"<strong>Table <code>{html.escape(stem)}</code></strong>"
    )


@dataclass
class Callout:
    """A boxed sentence led by a bold word: the data banner, a notebook's failure."""

    word: str
    text: str
    cls: str
    markdown: bool  # the text is Markdown (else plain text, escaped)

    def torender_markdown(self) -> list[str]:
        return [f"> **{self.word}.** {self.text}", ""]

    def to_html(self) -> str:
        body = _inline(self.text) if self.markdown else html.escape(self.text)
        return f'<div class="{self.cls}"><strong>{self.word}.</strong> {body}</div>'


@dataclass
class Answer:
    text: str  # a notebook's computed answer, Markdown

    def torender_markdown(self) -> list[str]:
        return [self.text.strip(), ""]

    def to_html(self) -> str:
        return f'<div class="answer-text">{markdown_to_html(self.text)}</div>'


@dataclass
class Status:
    """A notebook's status line: status, time, the regenerating command, its executed copy."""

    status: str
    seconds: str
    cmd: str
    notebook: tuple[str, str] | None  # (the executed notebook's name, its link)

    def torender_markdown(self) -> list[str]:
        link = (
            f" Executed notebook: [{self.notebook[0]}]({self.notebook[1]})."
            if self.notebook
            else ""
        )
        return [f"**{self.status}** in {self.seconds}. Regenerate: `{self.cmd}`{link}", ""]

    def to_html(self) -> str:
        link = (
            f' Executed notebook: <a href="{html.escape(self.notebook[1])}">{html.escape(self.notebook[0])}</a>.'
            if self.notebook
            else ""
        )
        status = html.escape(self.status)
        return (
            f'<p><span class="{status}">{status}</span> in {self.seconds}. '
            f"Regenerate: <code>{html.escape(self.cmd)}</code>.{link}</p>"
        )


@dataclass
class Table:
    """A CSV table: the whole table up to :data:`LONG_TABLE_ROWS` rows, else its first
    :data:`SUMMARY_ROWS` rows and a link to the CSV; ``columns`` keeps those columns."""

    df: object
    number: int  # the HTML id is table-<number>
    rel_csv: str
    file: str
    cmd: str | None
    columns: list | None = None
    details_anchor: str | None = None  # where every column is shown, when columns cuts some

    def _shown(self):
        """(the rows and columns shown, the caption's count, whether any are left out)."""
        df, notes = self.df, []
        shown = df
        if self.columns is not None and len(self.columns) < len(df.columns):
            shown = df[list(self.columns)]
            notes.append(f"{len(self.columns)} of {len(df.columns)} columns")
        rows = SUMMARY_ROWS if len(df) > LONG_TABLE_ROWS else len(df)
        if len(df) > LONG_TABLE_ROWS:
            notes.insert(0, f"first {rows} of {len(df)} rows")
        what = f"{len(df)} rows" + (f" ({', '.join(notes)})" if notes else "")
        return shown.head(max(rows, 1)), what, bool(notes)

    def torender_markdown(self) -> list[str]:
        shown, what, cut = self._shown()
        note = f"*{what}; file [`{self.file}`]({self.rel_csv})"
        if self.details_anchor and cut:
            note += f"; every column in [Details](#{self.details_anchor})"
        if self.cmd:
            note += f"; regenerate: `{self.cmd}`"
        return [markdown_table(shown), "", note + "*", ""]

    def to_html(self) -> str:
        shown, what, cut = self._shown()
        note = (
            f'{html.escape(what)}; file <a href="{html.escape(self.rel_csv)}">'
            f"<code>{html.escape(self.file)}</code></a>"
        )
        if self.details_anchor and cut:
            note += f'; every column in <a href="#{html.escape(self.details_anchor)}">Details</a>'
        if self.cmd:
            note += f"; regenerate: <code>{html.escape(self.cmd)}</code>"
        return _html_table(shown, f"table-{self.number}") + f'<p class="note">{note}</p>'


@dataclass
class Figure:
    stem: str
    shown: str | None  # the image shown (PNG, JPEG or SVG), relative to the report
    links: list[str]  # the other formats, linked
    cmd: str | None

    def torender_markdown(self) -> list[str]:
        lines = [f"**Figure `{self.stem}`**"]
        if self.shown:
            lines += ["", f"![{self.stem}]({self.shown})", ""]
        also = (
            (" Also: " + ", ".join(f"[{Path(x).suffix[1:]}]({x})" for x in self.links) + ".")
            if self.links
            else ""
        )
        regen = f"Regenerate: `{self.cmd}`." if self.cmd else ""
        return lines + [f"*{regen}{also}*" if (regen or also) else "", ""]

    def to_html(self) -> str:
        parts = [f"<figure><p><strong>Figure <code>{html.escape(self.stem)}</code></strong></p>"]
        if self.shown:
            parts.append(
                f'<img src="{html.escape(self.shown)}" alt="{html.escape(self.stem)}" loading="eager">'
            )
        also = (
            (
                " Also: "
                + ", ".join(
                    f'<a href="{html.escape(x)}">{html.escape(Path(x).suffix[1:])}</a>'
                    for x in self.links
                )
                + "."
            )
            if self.links
            else ""
        )
        regen = f"Regenerate: <code>{html.escape(self.cmd)}</code>." if self.cmd else ""
        parts.append(f"<figcaption>{regen}{also}</figcaption></figure>")
        return "\n".join(parts)


@dataclass
class RunTable:
    rows: list[tuple[str, str]]  # (what, value): values may hold `code` spans

    def torender_markdown(self) -> list[str]:
        return ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in self.rows] + [""]

    def to_html(self) -> str:
        return (
            '<div class="scroll"><table class="meta">'
            + "".join(
                f"<tr><th>{html.escape(k)}</th><td>{_inline_code(str(v))}</td></tr>"
                for k, v in self.rows
            )
            + "</table></div>"
        )


@dataclass
class NotebookIndex:
    rows: list[
        tuple[str, str, str, str, str]
    ]  # (notebook, its section's anchor, status, time, command)

    def torender_markdown(self) -> list[str]:
        return (
            ["| notebook | status | time | regenerate |", "|---|---|---|---|"]
            + [
                f"| [{name}](#{a}) | {status} | {took} | `{cmd}` |"
                for name, a, status, took, cmd in self.rows
            ]
            + [""]
        )

    def to_html(self) -> str:
        trs = "".join(
            f'<tr><td><a href="#{html.escape(a)}">{html.escape(name)}</a></td>'
            f'<td class="{html.escape(status)}">{html.escape(status)}</td>'
            f"<td>{took}</td><td><code>{html.escape(cmd)}</code></td></tr>"
            for name, a, status, took, cmd in self.rows
        )
        return (
            '<div class="scroll"><table class="meta"><thead><tr><th>notebook</th><th>status</th>'
            "<th>time</th><th>regenerate</th></tr></thead><tbody>" + trs + "</tbody></table></div>"
        )


@dataclass
class Contents:
    headings: list[Heading]  # levels 2 and 3

    def torender_markdown(self) -> list[str]:
        return (
            ["**Contents**", ""]
            + [f"{'  ' * (h.level - 2)}- [{h.text}](#{h.anchor})" for h in self.headings]
            + [""]
        )

    def to_html(self) -> str:
        ht = ['<nav class="toc"><strong>Contents</strong><ul>']
        level_open = 2
        for i, h in enumerate(self.headings):
            if h.level > level_open:
                ht.append("<ul>")
            elif h.level < level_open:
                ht.append("</li></ul></li>")
            elif i:
                ht.append("</li>")
            level_open = h.level
            ht.append(f'<li><a href="#{html.escape(h.anchor)}">{html.escape(h.text)}</a>')
        ht.append("</li>" + "</ul></li>" * (level_open - 2) + "</ul></nav>")
        return "".join(ht)


class Document:
    """The report's body as one list of blocks; headings get GitHub's anchors, tables numbers."""

    def __init__(self):
        self.blocks: list = []
        self._seen: dict = {}
        self._tables = 0

    def add(self, block) -> None:
        self.blocks.append(block)

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(Heading(level, text, slug(text, self._seen)))

    def table(self, df, **kw) -> None:
        self._tables += 1
        self.blocks.append(Table(df, self._tables, **kw))

    def headings(self) -> list[Heading]:
        return [b for b in self.blocks if isinstance(b, Heading)]


def render_markdown(blocks) -> str:
    return "\n".join(line for b in blocks for line in b.torender_markdown()).rstrip() + "\n"


def render_html(blocks, title: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width"><title>{html.escape(title)}</title>'
        f"<style>{CSS}</style></head><body>\n"
        + "\n".join(b.to_html() for b in blocks)
        + "\n</body></html>\n"
    )
