"""Command line: ``python -m afkit <command> [options]``.

Each command lives in the module of its concern, as a ``main(argv)`` function; this file only
dispatches, so that ``python -m afkit --help`` stays fast and imports nothing heavy.
"""

from __future__ import annotations

import importlib
import sys

# command -> (module, function, one-line help)
COMMANDS = {
    "inspect": (
        "afkit.io.inspect",
        "inspect_main",
        "schema, counts and label statistics of a TFRecord file set",
    ),
    "synth": ("afkit.data.synth", "main", "generate the embedded synthetic YouTube-8M release"),
    "card": (
        "afkit.data.datacard",
        "main",
        "measure a synthetic set and write its data card's figures and tables",
    ),
    "featurize": (
        "afkit.data.featurize",
        "main",
        "build a memory-mapped MF+STD feature store (and frame store)",
    ),
    "verify-store": (
        "afkit.data.store",
        "verify_main",
        "check a store's counts and shapes against its manifest",
    ),
    "params": (
        "afkit.models.reconstruction",
        "main",
        "the 341M / 72M parameter reconstruction tables",
    ),
    "models": (
        "afkit.models.reconstruction",
        "models_main",
        "every registered model, its inputs and its parameters per profile",
    ),
    "plan": (
        "afkit.training.plan",
        "main",
        "disk, memory and time a release will cost at a profile, before it starts",
    ),
    "train": ("afkit.training.train", "main", "train a model on a feature or frame store"),
    "import-run": (
        "afkit.training.inference",
        "import_main",
        "file a finished run trained anywhere into out/<profile>/runs/, where notebooks look",
    ),
    "eval": ("afkit.training.inference", "eval_main", "every metric of a trained run on a split"),
    "predict": (
        "afkit.training.inference",
        "predict_main",
        "write a submission CSV (VideoId,LabelConfidencePairs)",
    ),
    "reproduce": (
        "afkit.report.reproduce",
        "main",
        "run every notebook with papermill and build the report",
    ),
    "notebooks": (
        "afkit.report.notebook",
        "notebooks_main",
        "list every notebook with its parameters, types and defaults",
    ),
    "check-report": (
        "afkit.report.document",
        "check_main",
        "fail if the published report is from a dirty tree or older afkit/, notebooks/",
    ),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: python -m afkit <command> [options]",
        "       python -m afkit --version",
        "",
        "afkit reproduces Attend-Fusion (arXiv 2408.14441) on YouTube-8M's file format; with no",
        "data at hand it generates a synthetic release. Start with `make reproduce`.",
        "",
        "commands:",
    ]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", "python -m afkit <command> --help shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] == "--version":
        from afkit.core.cli import version

        print(f"afkit {version()}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"afkit: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module, func, _ = COMMANDS[name]
    result = getattr(importlib.import_module(module), func)(rest)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
