"""Result files of the benchmarks, and benchmarks/README.md's tables generated from them.

Every script in ``benchmarks/`` ends with :func:`write`: its table goes to
``benchmarks/results/NAME.json`` (the cells, the raw numbers, the machine, the package versions,
the date, the size it ran at) and ``benchmarks/results/NAME.md`` (the same table as Markdown,
rendered from the JSON by :func:`render`). benchmarks/README.md's block between
``<!-- performance:start -->`` and ``<!-- performance:end -->`` is :func:`readme_block` of those
files, in the order of ``ORDER``; ``tests/project/test_benchmark_results.py`` checks that it has not
drifted.

    .venv/bin/python benchmarks/_results.py            # print the block
    .venv/bin/python benchmarks/_results.py --readme   # rewrite benchmarks/README.md's block
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
README = HERE / "README.md"  # the page the tables are generated into
START = "<!-- performance:start -->"
END = "<!-- performance:end -->"
if str(REPO) not in sys.path:  # the benchmarks measure the afkit beside them, not an installed one
    sys.path.insert(0, str(REPO))
# the README's order of the tables
ORDER = (
    "io_read",
    "featurize",
    "loader",
    "train_throughput",
    "train_breakdown",
    "busy",
    "metrics",
    "models",
    "synth",
    "interpret",
    "damage",
)


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def environment() -> dict:
    """The machine, the versions and the time of a benchmark run."""
    try:
        sha = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            or None
        )
    except Exception:
        sha = None
    try:
        import torch

        gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    except Exception:
        gpu = None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "memory_gib": _memory_gib(),
            "gpu": gpu,
            "load_average_1min": round(os.getloadavg()[0], 1),
            "platform": platform.platform(),
        },
        "versions": {
            "python": platform.python_version(),
            "numpy": _version("numpy"),
            "torch": _version("torch"),
            "afkit": _version("afkit"),
            "git": sha,
        },
    }


def write(  # noqa: PLR0913  (the parts of one results file, each named at its call)
    name: str,
    title: str,
    columns: list[str],
    rows: list[list],
    *,
    size: str,
    notes: list[str] = (),
    data=None,
    config: dict | None = None,
    align: str | None = None,
    script: str | None = None,
) -> dict:
    """Write ``results/NAME.json`` and ``results/NAME.md``; returns the JSON object.

    ``rows`` are the table's cells (strings or numbers, already rounded as they should read);
    ``size`` says what the run measured (how many videos, steps, ...); ``notes`` are sentences
    printed under the table; ``data`` the raw numbers; ``align`` one letter a column (``l``/``r``,
    default: numbers right); ``script`` the benchmark that wrote it when not ``NAME.py``."""
    rows = [
        [c if isinstance(c, (str, int, float)) or c is None else str(c) for c in r] for r in rows
    ]
    if align is None:
        align = "".join(
            "r"
            if rows and all(isinstance(r[k], (int, float)) or _numeric(r[k]) for r in rows)
            else "l"
            for k in range(len(columns))
        )
    obj = {
        "name": name,
        "title": title,
        "size": size,
        "columns": list(columns),
        "align": align,
        "rows": rows,
        "notes": list(notes),
        "config": config or {},
        "data": data,
        **({"script": script} if script else {}),
        **environment(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(obj, indent=1) + "\n")
    (RESULTS / f"{name}.md").write_text(render(obj))
    print(render(obj))
    return obj


def _numeric(cell) -> bool:
    s = (
        str(cell)
        .replace(",", "")
        .replace("x", "")
        .replace("%", "")
        .replace("/", "")
        .replace(" ", "")
    )
    try:
        float(s)
        return True
    except ValueError:
        return s in ("-", "")


def _cell(c) -> str:
    if c is None:
        return "-"
    if isinstance(c, float):
        return f"{c:,.3g}" if abs(c) < 100 else f"{c:,.0f}"
    if isinstance(c, int):
        return f"{c:,}"
    return str(c).replace("|", "\\|")


def render(obj: dict) -> str:
    """One result file as Markdown: a heading, what ran where, the table, the notes."""
    m, v = obj["machine"], obj["versions"]
    where = (
        f"{m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB"
        + (f", {m['gpu']}" if m.get("gpu") else ", no GPU")
        + f"; Python {v['python']}, numpy {v['numpy']}"
        + (f", torch {v['torch']}" if v.get("torch") else "")
        + f"; load average {m['load_average_1min']} at the end; {obj['date']}"
        + (f", afkit {v['git']}" if v.get("git") else "")
    )
    lines = [
        f"#### {obj['title']} (`benchmarks/{obj.get('script', obj['name'])}.py`)",
        "",
        f"Size: {obj['size']}. Ran on {where}.",
        "",
    ]
    cols = obj["columns"]
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join("---:" if a == "r" else "---" for a in obj["align"]) + "|")
    for r in obj["rows"]:
        lines.append("| " + " | ".join(_cell(c) for c in r) + " |")
    if obj["notes"]:
        lines.append("")
        lines += list(obj["notes"])
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"


def load(name: str) -> dict | None:
    p = RESULTS / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def readme_block(results: Path = RESULTS) -> str:
    """The README's generated performance tables: every result file, in ``ORDER`` (then any
    other, by name)."""
    names = sorted(p.stem for p in results.glob("*.json"))
    names = [n for n in ORDER if n in names] + [n for n in names if n not in ORDER]
    body = "\n".join(render(json.loads((results / f"{n}.json").read_text())) for n in names)
    marker = (
        "<!-- generated by `python benchmarks/_results.py --readme` from benchmarks/results/: "
        "do not edit -->"
    )
    return f"{START}\n{marker}\n\n{body}\n{END}"


def update_readme(text: str, results: Path = RESULTS) -> str:
    """``text`` (the README) with its performance block replaced by :func:`readme_block`."""
    a, b = text.index(START), text.index(END) + len(END)
    return text[:a] + readme_block(results) + text[b:]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--readme", action="store_true", help="rewrite benchmarks/README.md's performance block"
    )
    a = p.parse_args(argv)
    if a.readme:
        text = README.read_text()
        new = update_readme(text)
        if new != text:
            README.write_text(new)
        print(f"benchmarks/README.md tables: {'updated' if new != text else 'unchanged'}")
    else:
        print(readme_block())
    return 0


if __name__ == "__main__":
    sys.exit(main())
