"""The report's blocks: each holds what it shows once and renders it twice (``to_markdown()``:
Markdown lines; ``to_html()``: an HTML string).

Markdown becomes HTML through mistune (:func:`markdown_to_html`, :func:`inline_html`) and the
page is a Jinja2 template (:func:`render_html`); what is left here is the report's own: the
blocks :class:`Heading`, :class:`Paragraph`, :class:`Callout` (the data banner, a failure),
:class:`Answer` (a notebook's computed answer), :class:`Status` (a notebook's status line),
:class:`Table` (a numbered, captioned CSV table with readable headers and units, summarised
when long), :class:`Figure` (numbered and captioned), :class:`RunTable`, :class:`NotebookIndex`
and :class:`Contents`; :class:`Document` gathers them, giving headings GitHub's anchors
(:func:`slug`: the Markdown file's in-page links must work on GitHub, whose rule no library
here implements) and tables and figures their numbers. :func:`markdown_table` also serves
``python -m afkit notebooks --markdown``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

TABLE_ROWS_SHOWN = 60  # a table is never printed past this many rows
LONG_TABLE_ROWS = 30  # longer tables are summarised (first rows) and linked as CSV
SUMMARY_ROWS = 10  # rows shown of a long table


# -------------------------------------------------------------------------- Markdown -> HTML
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


@lru_cache(maxsize=1)
def _markdown():
    import mistune

    class Renderer(mistune.HTMLRenderer):
        """mistune's HTML, with links to an unsafe target (:func:`safe_url`) shown, not linked
        (mistune's own default makes them live links to ``#harmful-link``)."""

        def link(self, text: str, url: str, title: str | None = None) -> str:
            if safe_url(url):
                return super().link(text, url, title)
            return f"{text} ({html.escape(url)})"

    # escape=True: raw HTML in a Markdown source is shown as text, never interpreted
    return mistune.create_markdown(
        escape=True, renderer=Renderer(escape=True), plugins=["table", "strikethrough"]
    )


def markdown_to_html(text: str) -> str:
    """Markdown (a notebook's answer: paragraphs, lists, pipe tables, emphasis, code, links) as
    HTML, by mistune; each table inside a horizontally scrolling box."""
    out = _markdown()(str(text))
    return out.replace("<table>", '<div class="scroll"><table class="data answer">').replace(
        "</table>", "</table></div>"
    )


def inline_html(text: str) -> str:
    """One line of Markdown as inline HTML (no enclosing paragraph)."""
    out = _markdown()(str(text)).strip()
    m = re.fullmatch(r"<p>(.*)</p>", out, re.S)
    return m.group(1) if m else out


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


# -------------------------------------------------------------------------------- formatting
def _fmt(v) -> str:
    if isinstance(v, float):
        if v != v:
            return ""
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
    return str(v)


def markdown_table(df, max_rows: int = TABLE_ROWS_SHOWN, align=None) -> str:
    """A pipe table of ``df``'s first ``max_rows`` rows (floats to 4 significant digits, pipes
    escaped), with a line saying so when rows are left out; ``align`` (one of "l", "r" per
    column) right-aligns the numeric columns."""
    shown = df.head(max_rows)

    def cell(v) -> str:
        return _fmt(v).replace("|", "\\|").replace("\n", " ")

    rule = [("---:" if a == "r" else "---") for a in (align or ["l"] * len(shown.columns))]
    lines = [
        "| " + " | ".join(cell(c) for c in shown.columns) + " |",
        "|" + "|".join(rule) + "|",
    ]
    lines += [
        "| " + " | ".join(cell(v) for v in row) + " |" for row in shown.itertuples(index=False)
    ]
    if len(df) > max_rows:
        lines.append(f"\n*first {max_rows} of {len(df)} rows*")
    return "\n".join(lines)


def _alignment(df) -> list[str]:
    """ "r" for a column of numbers (as its cells read), else "l"."""
    number = re.compile(r"^[+-]?[\d,]*\.?\d+(e[+-]?\d+)?$|^—$|^$")
    return [
        "r" if all(number.match(str(v)) for v in df[c]) and len(df) else "l" for c in df.columns
    ]


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1100px;
margin:0 auto;padding:1.2em 1.5em;color:#222;line-height:1.45;overflow-wrap:break-word}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
.banner{padding:.8em 1em;border-radius:6px;margin:1em 0;border:1px solid}
.banner.synthetic{background:#fff4e5;border-color:#e69f00}
.banner.real{background:#e8f4fb;border-color:#0072b2}
.banner.unknown{background:#eee;border-color:#999}
.scroll{overflow-x:auto;max-width:100%}
table.data,table.meta{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em}
table.data caption{caption-side:top;text-align:left;font-size:.95em;padding:.2em 0;color:#333}
table.data th,table.data td,table.meta th,table.meta td{border:1px solid #ccc;padding:.25em .6em}
table.data td.r,table.data th.r{text-align:right} table.data td.l,table.data th.l{text-align:left}
table.data th,table.meta th{background:#f3f3f3} table.meta td,table.meta th{text-align:left}
table.meta td{overflow-wrap:anywhere} table.answer td,table.answer th{text-align:left}
figure{margin:1em 0} figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#333}
code{background:#f3f3f3;padding:0 .25em;border-radius:3px;overflow-wrap:anywhere}
.ok{color:#096b2e;font-weight:bold} .failed,.timeout{color:#b00020;font-weight:bold}
.error{background:#fdecee;border-left:4px solid #b00020;padding:.5em 1em}
.note{color:#666;font-size:.85em}
.answer-text{background:#f6f8fa;border-left:4px solid #0072b2;padding:.2em 1em;margin:.6em 0}
nav.toc{background:#fafafa;border:1px solid #e3e3e3;border-radius:6px;padding:.4em 1em;margin:1em 0}
nav.toc ul{margin:.2em 0;padding-left:1.4em} nav.toc ul ul{column-width:24em;column-gap:2em}
nav.toc li li{break-inside:avoid} .provenance{font-size:.95em}
"""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width"><title>{{ title }}</title>
<style>{{ css|safe }}</style></head><body>
{% for block in blocks %}{{ block|safe }}
{% endfor %}</body></html>
"""


# ------------------------------------------------------------------------------------ blocks
@dataclass
class Heading:
    level: int
    text: str
    anchor: str | None = None  # None: the title (no id, not in the contents)

    def to_markdown(self) -> list[str]:
        return [f"{'#' * self.level} {self.text}", ""]

    def to_html(self) -> str:
        ident = f' id="{html.escape(self.anchor)}"' if self.anchor is not None else ""
        return f"<h{self.level}{ident}>{html.escape(self.text)}</h{self.level}>"


@dataclass
class Paragraph:
    text: str  # Markdown
    cls: str | None = None

    def to_markdown(self) -> list[str]:
        return [self.text, ""]

    def to_html(self) -> str:
        c = f' class="{self.cls}"' if self.cls else ""
        return f"<p{c}>{inline_html(self.text)}</p>"


@dataclass
class Callout:
    """A boxed sentence led by a bold word: the data banner, a notebook's failure."""

    word: str
    text: str
    cls: str
    markdown: bool  # the text is Markdown (else plain text, escaped)

    def to_markdown(self) -> list[str]:
        return [f"> **{self.word}.** {self.text}", ""]

    def to_html(self) -> str:
        body = inline_html(self.text) if self.markdown else html.escape(self.text)
        return f'<div class="{self.cls}"><strong>{self.word}.</strong> {body}</div>'


@dataclass
class Answer:
    text: str  # a notebook's computed answer, Markdown

    def to_markdown(self) -> list[str]:
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

    def _markdown(self) -> str:
        link = (
            f" Executed notebook: [{self.notebook[0]}]({self.notebook[1]})."
            if self.notebook
            else ""
        )
        return f"**{self.status}** in {self.seconds}. Regenerate: `{self.cmd}`.{link}"

    def to_markdown(self) -> list[str]:
        return [self._markdown(), ""]

    def to_html(self) -> str:
        status = html.escape(self.status)
        rest = inline_html(self._markdown().split("**", 2)[2])
        return f'<p><span class="{status}">{status}</span> {rest}</p>'


@dataclass
class Table:
    """A numbered, captioned CSV table with readable headers and units
    (:func:`afkit.report.columns.humanize`): the whole table up to :data:`LONG_TABLE_ROWS`
    rows, else its first :data:`SUMMARY_ROWS` rows; ``columns`` keeps those columns; the CSV
    (every row and column, machine-readable names) is linked."""

    df: object
    number: int
    caption: str
    rel_csv: str
    file: str
    columns: list | None = None
    first: bool = True  # the table's first appearance (the one that carries its HTML id)

    def _shown(self):
        """(the rows and columns shown, humanized; the note saying what was left out)."""
        from afkit.report.columns import humanize

        df, notes = self.df, []
        shown = df
        rows = SUMMARY_ROWS if len(df) > LONG_TABLE_ROWS else len(df)
        if len(df) > LONG_TABLE_ROWS:
            notes.append(f"the first {rows} rows")
        if self.columns is not None and len(self.columns) < len(df.columns):
            shown = df[list(self.columns)]
            notes.append(f"{len(self.columns)} of {len(df.columns)} columns")
        what = f"{len(df)} rows" + (f"; shown: {', '.join(notes)}" if notes else "")
        return humanize(shown.head(max(rows, 1))), what

    def _label(self) -> str:
        return f"Table {self.number}"

    def to_markdown(self) -> list[str]:
        shown, what = self._shown()
        note = f"*{what}; every row and column in [`{self.file}`]({self.rel_csv}).*"
        return [
            f"**{self._label()}.** {self.caption}.",
            "",
            markdown_table(shown, align=_alignment(shown)),
            "",
            note,
            "",
        ]

    def to_html(self) -> str:
        shown, what = self._shown()
        align = _alignment(shown)
        head = "".join(
            f'<th class="{a}">{html.escape(str(c))}</th>'
            for c, a in zip(shown.columns, align, strict=True)
        )
        body = "\n".join(
            "<tr>"
            + "".join(
                f'<td class="{a}">{html.escape(_fmt(v))}</td>'
                for v, a in zip(row, align, strict=True)
            )
            + "</tr>"
            for row in shown.itertuples(index=False)
        )
        ident = f' id="table-{self.number}"' if self.first else ""
        note = (
            f'{html.escape(what)}; every row and column in <a href="{html.escape(self.rel_csv)}">'
            f"<code>{html.escape(self.file)}</code></a>."
        )
        return (
            f'<div class="scroll"><table{ident} class="data"><caption><strong>'
            f"{self._label()}.</strong> {html.escape(self.caption)}.</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table></div>"
            f'<p class="note">{note}</p>'
        )


@dataclass
class Figure:
    number: int
    caption: str
    shown: str | None  # the image shown (PNG, JPEG or SVG), relative to the report
    links: list[str]  # the other formats, linked
    cmd: str | None
    first: bool = True

    def _also(self, link) -> str:
        also = ", ".join(link(Path(x).suffix[1:], x) for x in self.links)
        return f" Also as {also}." if also else ""

    def to_markdown(self) -> list[str]:
        label = f"Figure {self.number}. {self.caption}."
        lines = [f"![{label}]({self.shown})", ""] if self.shown else []
        regen = f" Regenerate: `{self.cmd}`." if self.cmd else ""
        also = self._also(lambda s, x: f"[{s}]({x})")
        return lines + [f"**Figure {self.number}.** {self.caption}.{also}{regen}", ""]

    def to_html(self) -> str:
        label = f"Figure {self.number}. {self.caption}."
        ident = f' id="figure-{self.number}"' if self.first else ""
        parts = [f"<figure{ident}>"]
        if self.shown:
            parts.append(
                f'<img src="{html.escape(self.shown)}" alt="{html.escape(label)}" loading="eager">'
            )
        regen = f" Regenerate: <code>{html.escape(self.cmd)}</code>." if self.cmd else ""
        also = self._also(lambda s, x: f'<a href="{html.escape(x)}">{html.escape(s)}</a>')
        parts.append(
            f"<figcaption><strong>Figure {self.number}.</strong> {html.escape(self.caption)}."
            f"{also}{regen}</figcaption></figure>"
        )
        return "\n".join(parts)


@dataclass
class RunTable:
    rows: list[tuple[str, str]]  # (what, value): values may hold `code` spans

    def to_markdown(self) -> list[str]:
        return ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in self.rows] + [""]

    def to_html(self) -> str:
        return (
            '<div class="scroll"><table class="meta">'
            + "".join(
                f"<tr><th>{html.escape(k)}</th><td>{inline_html(str(v))}</td></tr>"
                for k, v in self.rows
            )
            + "</table></div>"
        )


@dataclass
class NotebookIndex:
    # (notebook, its section's anchor, status, time, command)
    rows: list[tuple[str, str, str, str, str]]

    def to_markdown(self) -> list[str]:
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
            f"<td>{html.escape(took)}</td><td><code>{html.escape(cmd)}</code></td></tr>"
            for name, a, status, took, cmd in self.rows
        )
        return (
            '<div class="scroll"><table class="meta"><thead><tr><th>notebook</th><th>status</th>'
            "<th>time</th><th>regenerate</th></tr></thead><tbody>" + trs + "</tbody></table></div>"
        )


@dataclass
class Contents:
    headings: list[Heading]  # levels 2 and 3

    def to_markdown(self) -> list[str]:
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


@dataclass
class Document:
    """The report's body as one list of blocks; headings get GitHub's anchors, tables and
    figures numbers (one number a file: shown twice, it keeps its number)."""

    blocks: list = field(default_factory=list)
    _seen: dict = field(default_factory=dict)
    _numbers: dict = field(default_factory=dict)  # (kind, file) -> its number

    def add(self, block) -> None:
        self.blocks.append(block)

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(Heading(level, text, slug(text, self._seen)))

    def _number(self, kind: str, key: str) -> tuple[int, bool]:
        if (kind, key) in self._numbers:
            return self._numbers[(kind, key)], False
        n = 1 + sum(1 for k, _ in self._numbers if k == kind)
        self._numbers[(kind, key)] = n
        return n, True

    def table(self, df, *, file: str, **kw) -> None:
        n, first = self._number("table", file)
        self.blocks.append(Table(df, n, file=file, first=first, **kw))

    def figure(self, stem: str, caption: str, shown, links, cmd) -> None:
        n, first = self._number("figure", stem)
        self.blocks.append(Figure(n, caption, shown, links, cmd, first=first))

    def headings(self) -> list[Heading]:
        return [b for b in self.blocks if isinstance(b, Heading)]


def render_markdown(blocks) -> str:
    return "\n".join(line for b in blocks for line in b.to_markdown()).rstrip() + "\n"


def render_html(blocks, title: str) -> str:
    import jinja2

    env = jinja2.Environment(autoescape=True)
    # autoescape: the title is escaped; the blocks and the CSS are HTML already (|safe)
    return env.from_string(PAGE).render(title=title, css=CSS, blocks=[b.to_html() for b in blocks])
