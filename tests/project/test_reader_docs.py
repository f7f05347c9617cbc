"""The documents a newcomer reads tell one story, in numbers the code gives: the README is short,
uses no word that needs this project's history, quotes only numbers computed here from their
source; data/README's profile table is the generator's; no committed text names a path of the
machine that made it; LICENSE and CITATION.cff exist and say what pyproject and the paper say."""

import json
import re

import pytest
import tomllib
import yaml

from afkit.core import paper
from afkit.report import reproduce
from tests.helpers.paths import REPO

README = (REPO / "README.md").read_text()
HISTORY_WORDS = (
    "issue ",
    "the brief",
    "were merged",
    "before main",
    "the earlier",
    "within the 45",
    "over the brief",
)


def prose(text: str) -> str:
    """``text`` without its generated results block, code blocks and inline code."""
    if reproduce.README_START in text:
        a = text.index(reproduce.README_START)
        b = text.index(reproduce.README_END) + len(reproduce.README_END)
        text = text[:a] + text[b:]
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.sub(r"`[^`]*`", "", text)


def test_readme_is_short_and_needs_no_history():
    assert len(README.splitlines()) <= 250
    lower = README.lower()
    assert [w for w in HISTORY_WORDS if w in lower] == []


def test_every_number_in_the_readme_prose_is_computed_here():
    from afkit.data.store import HOLDOUT_FRACTION
    from afkit.io.records import MAX_ID_BYTES
    from afkit.io.tfrecord import MAX_RECORD_BYTES
    from afkit.models import registry
    from afkit.models.baselines import AUDIO_DIM, VISUAL_DIM
    from afkit.training.train import TrainConfig

    fc = registry.count_parameters(registry.build("fc_late", "paper", device="meta"))
    af = registry.count_parameters(registry.build("attend_fusion", "paper", device="meta"))
    p = registry.PAPER_PROFILE
    computed = {
        f"{paper.F1_PCT['attend_fusion']:.2f}",
        f"{paper.F1_PCT['fc_late']:.2f}",
        f"{paper.PARAMETERS['attend_fusion'] / 1e6:.0f}",
        f"{paper.PARAMETERS['fc_late'] / 1e6:.0f}",
        str(paper.EPOCHS),
        f"{paper.LEARNING_RATE:.0e}".replace("e-0", "e-"),
        f"{paper.DROPOUT:g}",
        f"{fc:,}",
        f"{af:,}",
        f"{fc / af:.2f}",
        str(p.hidden),
        str(p.num_classes),
        str(VISUAL_DIM),
        str(AUDIO_DIM),
        f"{TrainConfig().threshold:g}",
        str(TrainConfig().top_k),
        str(MAX_ID_BYTES),
        str(MAX_RECORD_BYTES >> 20),  # MiB
        f"{100 * HOLDOUT_FRACTION:.0f}",
    }
    assert f"{fc:,}" == "341,204,524" and f"{fc / af:.2f}" == "4.75"  # what the prose says
    # names that carry digits: the arXiv id, Python, licences, metric names, notebook numbers,
    # the 2017 release, the paper's "nearly 80%" (a quotation), MF+STD's one percent search band
    # the 2018 release, a protobuf varint's 64 bits
    names = {"2408.14441", "3.11", "3", "2.0", "4.0", "1", "80", "2017", "2018", "2024", "64"}
    names |= {f"{i:02d}" for i in range(11)}
    numbers = re.findall(r"(?<![\w-])\d+(?:[.,]\d+)*(?:e-\d+)?", prose(README))
    assert numbers, "no number found: the scan is broken"
    unexplained = sorted(set(numbers) - computed - names)
    assert unexplained == [], f"README prose quotes numbers no source here gives: {unexplained}"


def test_readme_results_block_times_come_from_run_json():
    """One timing sentence per run, from the published run.json files, never two alike."""
    block = README[README.index(reproduce.README_START) : README.index(reproduce.README_END)]
    took = re.findall(r"took [\d.]+ minutes", block)
    assert took and len(took) == len(set(took))
    run = json.loads((REPO / "report" / "run.json").read_text())
    assert f"took {run['seconds'] / 60:.1f} minutes" in block


def test_data_readme_profile_table_is_the_generators():
    from afkit.data.synth import PROFILES

    text = (REPO / "data" / "README.md").read_text()
    for name, q in PROFILES.items():
        row = (
            f"| `{name}` | {q.num_classes} | {q.train_videos} / {q.validate_videos} / "
            f"{q.test_videos} | {q.min_frames}-{q.max_frames} |"
        )
        assert row in text, row
    assert "CC BY 4.0" in text


def test_one_story_for_the_kernel_the_data_and_the_times():
    docs = {
        p: (REPO / p).read_text()
        for p in ("README.md", "notebooks/README.md", "data/README.md", "DESIGN.md")
    }
    for path, text in docs.items():
        lower = text.lower()
        assert "ipykernel install" not in lower, f"{path}: a second kernel story"
        assert "as soon as the data exist" not in lower, f"{path}: a second data story"
        # run times are measured (README's results block, from run.json), never promised
        assert not re.search(r"(at most|<=|within) \d+ min", lower), f"{path}: a promised time"


def _no_machine_path(text: str) -> list[str]:
    return sorted(set(re.findall(r"(?:/work|/home|/tmp|/root|/Users)/[^\s\"'`)|,<]+", text)))


def test_readme_names_no_machine_path():
    assert _no_machine_path(README) == []
    assert _no_machine_path((REPO / "benchmarks" / "README.md").read_text()) == []


def test_committed_report_names_no_machine_path():
    run = json.loads((REPO / "report" / "run.json").read_text())
    if str(run.get("data_dir", "")).startswith("/"):
        pytest.skip("report/ was made before run.json recorded relative paths: regenerate it")
    found = {}
    for p in sorted((REPO / "report").rglob("*")):
        if p.is_file() and p.suffix in (".md", ".html", ".json", ".csv"):
            hits = _no_machine_path(p.read_text())
            if hits:
                found[str(p.relative_to(REPO))] = hits[:3]
    assert found == {}


def test_license_and_citation():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert meta["license"] == "Apache-2.0"
    assert "Apache License" in (REPO / "LICENSE").read_text()[:200]
    assert "Version 2.0" in (REPO / "LICENSE").read_text()[:200]
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["license"] == meta["license"]
    assert cff["version"] == meta["version"]
    ref = cff["preferred-citation"]
    assert "Attend-Fusion" in ref["title"] and ref["year"] == 2024
    surnames = [a["family-names"] for a in ref["authors"]]
    # PAPER.md / afkit.core.paper's reading of the author list
    assert surnames == ["Awan", "Nadeem", "Awan", "Mustafa", "Husain"]
    assert any("2408.14441" in i["value"] for i in ref["identifiers"])
    assert "2408.14441" in README and "awan2024attendfusion" in README
