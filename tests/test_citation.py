"""CITATION.cff is valid CFF 1.2 in its required fields, matches the package version and cites the paper."""

from __future__ import annotations

from pathlib import Path

import yaml

import liftpool_lightning

CITATION = Path(__file__).resolve().parents[1] / "CITATION.cff"


def test_citation_file_names_this_version_and_the_paper() -> None:
    citation = yaml.safe_load(CITATION.read_text())
    assert citation["cff-version"] == "1.2.0"
    assert {"message", "title", "authors", "type"} <= set(citation)
    assert citation["version"] == liftpool_lightning.__version__
    paper = citation["preferred-citation"]
    assert paper["title"] == "LiftPool: Bidirectional ConvNet Pooling" and paper["year"] == 2021
    assert [author["family-names"] for author in paper["authors"]] == ["Zhao", "Snoek"]
    assert citation["references"][0]["title"] == paper["title"]
