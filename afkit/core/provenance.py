"""Provenance and safe files, in one place: the git commit and tree state, package versions,
a hash of the training code, atomic writes (text, JSON, torch objects).

Every results file records where it came from (``git_sha``, ``versions``, ``code_hash``), and
every file a crash could leave half-written is written through :func:`atomic_write` (or
:func:`atomic_write_text`, :func:`atomic_torch_save`, :func:`atomic_savez`: a temporary file
(:func:`temporary_path`), fsync, ``os.replace``: readers see the old file or the new one, never a
mix).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import platform
import subprocess
from pathlib import Path

import numpy as np

PACKAGE = Path(__file__).resolve().parent.parent  # the afkit package folder
# the modules whose code decides a training run's result, by dotted name: a finished run is
# reused only while the hash of these modules equals the current one (afkit.studies.experiments)
TRAINING_CODE = (
    "afkit.data.batches",
    "afkit.data.featurize",
    "afkit.data.mfstd",
    "afkit.data.store",
    "afkit.data.store_writer",
    "afkit.io.protowire",
    "afkit.io.records",
    "afkit.io.shards",
    "afkit.io.tfrecord",
    "afkit.metrics.classification",
    "afkit.models.attend_fusion",
    "afkit.models.baselines",
    "afkit.models.registry",
    "afkit.training.devices",
    "afkit.training.evaluation",
    "afkit.training.inference",
    "afkit.training.protocol",
    "afkit.training.stacked",
    "afkit.training.train",
)


def module_file(name: str) -> Path:
    """The source file of the afkit module ``name`` (dotted, e.g. ``afkit.io.records``), found
    without importing it."""
    parts = name.split(".")
    if parts[0] != "afkit":
        raise ValueError(f"not an afkit module: {name!r}")
    return PACKAGE.joinpath(*parts[1:]).with_suffix(".py")


def git_sha(path: str | os.PathLike | None = None) -> str | None:
    """The git commit of the afkit checkout (``+dirty`` if it has uncommitted changes)."""
    here = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        if not sha:
            return None
        # notebooks pass through unfiltered (`cat`): an nbstripout filter installed in the
        # checkout would otherwise start a Python process per notebook on every call
        dirty = subprocess.run(
            [
                "git",
                "-c",
                "filter.nbstripout.clean=cat",
                "-c",
                "filter.nbstripout.smudge=cat",
                "status",
                "--porcelain",
                "--untracked-files=no",
            ],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str]:
    """Versions of Python, torch, numpy and afkit, for results files."""
    import torch

    import afkit

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "afkit": afkit.__version__,
        "platform": platform.platform(),
    }


def fsync_dir(path) -> None:
    """fsync the directory ``path`` (where a rename happened), so that the rename itself
    survives a power loss; a no-op where directories cannot be opened (not POSIX)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory: nothing more can be done
    finally:
        os.close(fd)


def atomic_write(path: Path, write) -> None:
    """Write via ``write(tmp_path)`` then ``os.replace``: readers see the old file or the new.
    A full disk raises ``OSError(ENOSPC)`` saying so, with the old file left in place."""
    from afkit.core import faults

    path = Path(path)
    tmp = temporary_path(path)
    try:
        try:
            write(tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
            raise OSError(
                errno.ENOSPC,
                f"no space left on device writing {path} ({e}); the "
                f"previous {path.name} (if any) is intact: free some space and run again "
                f"with resume=True (--resume)",
            ) from e
        faults.crash_point(f"{path.name} written")
        os.replace(tmp, path)
        fsync_dir(path.parent)
        faults.crash_point(f"{path.name} renamed")
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_torch_save(obj, path) -> None:
    import torch

    atomic_write(Path(path), lambda p: torch.save(obj, p))


def atomic_write_text(path, text: str) -> None:
    atomic_write(Path(path), lambda p: Path(p).write_text(text))


def _json_default(o):
    if hasattr(o, "tolist"):  # numpy scalars and arrays (and tensors)
        return o.tolist()
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def to_json(obj, indent: int | None = None) -> str:
    """``obj`` as JSON text, numpy values converted (one line unless ``indent``)."""
    return json.dumps(obj, default=_json_default, indent=indent)


def write_json(path, data) -> None:
    """``data`` as indented JSON (numpy values and paths converted), written atomically."""
    atomic_write_text(path, to_json(data, indent=2) + "\n")


def code_hash(modules=TRAINING_CODE) -> str:
    """SHA-256 (first 16 hex digits) of the training code: each module's dotted name and source,
    in name order (where the checkout sits on disk does not enter it)."""
    h = hashlib.sha256()
    for name in sorted(modules):
        h.update(name.encode() + b"\0" + module_file(name).read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _notebook_bytes(path: Path) -> bytes:
    """A notebook's cells (type and source), not its outputs or metadata: the same before and
    after a kernel ran it, as the repository stores it (nbstripout)."""
    try:
        nb = json.loads(path.read_text())
        cells = [[c.get("cell_type"), "".join(c.get("source", ""))] for c in nb.get("cells", [])]
        return json.dumps(cells, sort_keys=True).encode()
    except (ValueError, AttributeError):  # not a notebook's JSON: its bytes
        return path.read_bytes()


def source_files(repo=None) -> dict[str, str]:
    """SHA-256 (first 16 hex digits) of each ``afkit/**/*.py`` and ``notebooks/*.ipynb`` of the
    checkout ``repo`` (default this one), by POSIX path relative to it; notebooks by their cells."""
    root = Path(repo).resolve() if repo is not None else PACKAGE.parent
    out = {}
    for sub, pattern in (("afkit", "**/*.py"), ("notebooks", "*.ipynb")):
        for p in sorted((root / sub).glob(pattern)):
            if "__pycache__" in p.parts:
                continue
            data = _notebook_bytes(p) if p.suffix == ".ipynb" else p.read_bytes()
            out[p.relative_to(root).as_posix()] = hashlib.sha256(data).hexdigest()[:16]
    return out


def source_hash(repo=None, files: dict | None = None) -> str:
    """One SHA-256 (first 16 hex digits) over :func:`source_files` (of ``repo``, or the ``files``
    given): what a report records, so that ``python -m afkit check-report`` sees a change to
    afkit/ or notebooks/ after it."""
    h = hashlib.sha256()
    for name, digest in sorted((files if files is not None else source_files(repo)).items()):
        h.update(f"{name}\0{digest}\0".encode())
    return h.hexdigest()[:16]


def tree_clean(path=None) -> bool | None:
    """True when the git checkout at ``path`` has no uncommitted changes to tracked files (None
    outside git): :func:`git_sha` without ``+dirty``."""
    sha = git_sha(path)
    return None if sha is None else not sha.endswith("+dirty")


def temporary_path(path, *, hidden: bool = True) -> Path:
    """The temporary name a file is written under before its rename to ``path``: in the same
    folder, with this process's id (``*.tmp*``: what a resumed writer sweeps away), hidden (a
    leading dot) unless ``hidden=False`` (a store's part files, streamed:
    ``NNNNN.features.bin.tmpPID``)."""
    path = Path(path)
    return path.with_name(f"{'.' if hidden else ''}{path.name}.tmp{os.getpid()}")


def atomic_savez(path, **arrays) -> None:
    """``np.savez`` of ``arrays`` to ``path`` (exactly that name), written atomically."""

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    atomic_write(Path(path), write)


def afkit_version() -> str:
    """The version of this afkit package (``afkit.__version__``), without importing torch."""
    import afkit

    return afkit.__version__


def portable_path(path, root=None) -> str:
    """``path`` as committed files record it: relative to ``root`` (default: the repository
    holding afkit) when inside it, ``~/...`` when under the home folder, else as given (a
    relative path is kept as it is); no file-system access beyond resolving the path."""
    root = Path(root).resolve() if root is not None else PACKAGE.parent
    p = Path(path)
    if not p.is_absolute() and not str(path).startswith("~"):
        return str(path)  # relative already: as recorded
    p = p.expanduser()
    try:
        return Path(p.resolve()).relative_to(root).as_posix() or "."
    except ValueError:
        pass
    try:
        return "~/" + Path(p.resolve()).relative_to(Path.home().resolve()).as_posix()
    except ValueError:
        return str(path)
