"""Policy frames as data: every catalogue indicator is tagged, every tagged id exists, every code has a name."""

from __future__ import annotations

import shutil

import polars as pl
import pytest

from pipelines.errors import SpecError
from pipelines.indicators.catalogue import CATALOGUE_DIR, load_catalogue
from pipelines.indicators.frames import FRAMES, frame_tags, load_policy_frames
from pipelines.indicators.published import PUBLISHED_CSV


def test_every_catalogue_indicator_has_a_gcm_objective():
    frames = load_policy_frames()
    gcm = set(frames.tags.filter(pl.col("frame") == "gcm")["indicator_id"])
    assert {i.indicator_id for i in load_catalogue().indicators} <= gcm


def test_every_tagged_id_is_a_catalogue_or_published_indicator():
    known = {i.indicator_id for i in load_catalogue().indicators}
    known |= set(pl.read_csv(PUBLISHED_CSV, infer_schema=False)["indicator_id"])
    assert set(load_policy_frames().tags["indicator_id"]) <= known


def test_the_seed_documents_frames():
    """The examples the seeds give: GCM 1 data, 6 decent work, 15 basic services, 17 discrimination; SDG 2.1.2 FIES,
    3.8 health coverage, 8.8 labour rights, 11.1 housing, 16.1 violence, 10.7 migration policy."""
    tags = load_policy_frames().tags
    has = {(i, f, c) for i, f, c in tags.rows()}
    for expected in [("no_health_insurance", "gcm", "15"), ("no_health_insurance", "sdg", "3.8"),
                     ("fies_moderate_severe", "sdg", "2.1.2"), ("informal", "sdg", "8.8"),
                     ("informal", "gcm", "6"), ("overcrowding_room", "sdg", "11.1"),
                     ("knows_victim_physical", "sdg", "16.1"), ("discriminated_since_arrival", "gcm", "17"),
                     ("enpove_doc_irregular", "sdg", "10.7"), ("enpove_sex_women", "gcm", "1"),
                     ("sends_remittances", "mgi", "well_being")]:
        assert expected in has, expected
    assert set(tags["frame"]) == set(FRAMES)


def test_a_code_without_a_name_is_refused(tmp_path):
    folder = tmp_path / "indicators"
    shutil.copytree(CATALOGUE_DIR, folder)
    with (folder / "policy_frames.csv").open("a", encoding="utf-8") as handle:
        handle.write("xss_indicator,99,,,\n")
    with pytest.raises(SpecError, match="without a label"):
        load_policy_frames(folder)


def test_published_figures_inherit_their_concepts_tags():
    indicators = pl.DataFrame({"indicator_id": ["multisector_lima_food_insecurity_moderate_severe", "unknown_id"],
                               "concept_id": ["food_insecurity_moderate_severe", "unknown_id"]})
    tags = frame_tags(indicators)
    assert set(tags["indicator_id"]) == {"multisector_lima_food_insecurity_moderate_severe"}
    assert set(tags["tagged_as"]) == {"fies_moderate_severe"}
    assert ("sdg", "2.1.2") in set(tags.select("frame", "code").rows())
