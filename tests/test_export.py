"""Exports read back with pyarrow and checked against the data dictionary, datapackage.json and the schemas.

Only schema columns leave the package: the survey's own keys and nothing else identifying. A column outside the
schema in the store (a telephone number, a name) stops the export before anything is written.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pipelines.errors import SchemaViolation
from pipelines.export import PARTITION_KEYS, frictionless_type, run_export
from pipelines.indicators.tables import COMPARISONS, CONTRASTS, INDICATORS, POLICY_FRAMES
from pipelines.specs import load_round_spec
from surveys import schema
from tests.reports.helpers import build_store

REPO = Path(__file__).resolve().parent.parent
HARMONISED = {table: [c.name for c in columns] for table, columns in schema.TABLES.items()}
DERIVED = {"indicators": list(INDICATORS), "comparisons": list(COMPARISONS),  # the tables of the fixture store
           "policy_frames": list(POLICY_FRAMES)}
SCHEMAS = {**DERIVED, "contrasts": list(CONTRASTS)}  # every derived table the stages store


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path, list[str]]:
    root = tmp_path_factory.mktemp("export")
    store = build_store(root)
    out = root / "exports"
    lines = run_export(store, out=out)
    return store, out, lines


def _dictionary(out: Path) -> dict[tuple[str, str], dict]:
    with (out / "dictionary.csv").open(encoding="utf-8", newline="") as handle:
        return {(row["table"], row["column"]): row for row in csv.DictReader(handle)}


def _files(out: Path) -> dict[str, list[Path]]:
    files = {table: sorted((out / table).rglob("*.parquet")) for table in HARMONISED}
    files.update({name: [out / f"{name}.parquet"] for name in DERIVED})
    return files


def test_layout_hive_partitions_and_derived_files(exported):
    _, out, lines = exported
    for table in HARMONISED:
        assert [p.relative_to(out).as_posix() for p in _files(out)[table]] == [
            f"{table}/source=enpove/round=2018/part-0.parquet", f"{table}/source=enpove/round=2022/part-0.parquet"]
    for name in DERIVED:
        assert (out / f"{name}.parquet").exists()
    assert any("exported indicators: 102 rows" in line for line in lines)


def test_every_exported_column_is_in_the_schema_and_nothing_else(exported):
    """The identifier guard: fails as soon as a column outside the schemas appears in any exported file."""
    _, out, _ = exported
    for table, paths in _files(out).items():
        allowed = [c for c in HARMONISED[table] if c not in PARTITION_KEYS] if table in HARMONISED else DERIVED[table]
        for path in paths:
            assert pq.read_schema(path).names == allowed, path


def test_every_column_is_documented_with_its_type(exported):
    _, out, _ = exported
    dictionary = _dictionary(out)
    for table, paths in _files(out).items():
        for path in paths:
            for field in pq.read_schema(path):
                entry = dictionary[(table, field.name)]
                assert entry["arrow_type"] == str(field.type), (table, field.name)
                assert entry["type"] == frictionless_type(field.type)
                assert entry["description"], (table, field.name)
    expected = {(t, c) for t, cols in {**HARMONISED, **DERIVED}.items() for c in cols}
    assert set(dictionary) == expected
    assert dictionary[("persons", "sex")]["categories"] == "female;male"
    assert dictionary[("indicators", "origin")]["categories"] == "microdata;synthetic;published"
    assert dictionary[("persons", "source")]["role"] == "partition key"
    json_tables = json.loads((out / "dictionary.json").read_text(encoding="utf-8"))["tables"]
    assert {(t, c["column"]) for t, cols in json_tables.items() for c in cols} == expected


def test_harmonised_columns_name_their_source_variables_per_round(exported):
    _, out, _ = exported
    dictionary = _dictionary(out)
    spec = load_round_spec(REPO / "surveys" / "enpove_2022")
    for variable in spec.variables:
        text = dictionary[(variable.table, variable.harmonised_var)]["source_variables"]
        assert "enpove/2022" in text and all(v in text for v in variable.source_vars), variable.harmonised_var
    assert "CONGLOMERADO" in dictionary[("households", "psu")]["source_variables"]
    assert dictionary[("persons", "sex")]["source_variables"].count("enpove/2018: module 200 P204") == 1


def test_datapackage_matches_the_files(exported):
    """One resource per file (frictionless validates a multipart Parquet resource on its first file only); a
    partition's resource names its table and partition values."""
    _, out, _ = exported
    package = json.loads((out / "datapackage.json").read_text(encoding="utf-8"))
    assert package["profile"] == "data-package" and "SYNTHETIC" in package["description"]
    resources = {r["name"]: r for r in package["resources"]}
    partitions = {f"{t}-enpove-{r}": (t, r) for t in HARMONISED for r in ("2018", "2022")}
    assert set(resources) == set(partitions) | set(DERIVED)
    for name, resource in resources.items():
        assert resource["format"] == "parquet" and isinstance(resource["path"], str)
        table = partitions[name][0] if name in partitions else name
        assert out / resource["path"] in _files(out)[table]
        file_schema = pq.read_schema(out / resource["path"])
        fields = resource["schema"]["fields"]
        assert [f["name"] for f in fields] == file_schema.names
        for field in fields:
            assert field["type"] == frictionless_type(file_schema.field(field["name"]).type)
            assert field["description"]
    persons = resources["persons-enpove-2018"]
    assert persons["table"] == "persons" and "SYNTHETIC" not in persons["title"]
    assert "SYNTHETIC" in resources["persons-enpove-2022"]["title"]
    assert [(f["name"], f["value"]) for f in persons["partition"]["fields"]] == [("source", "enpove"),
                                                                                 ("round", "2018")]


def test_hive_partitions_read_back_as_columns(exported):
    _, out, _ = exported
    partitioning = ds.partitioning(pa.schema([("source", pa.string()), ("round", pa.string())]), flavor="hive")
    persons = ds.dataset(out / "persons", format="parquet", partitioning=partitioning).to_table()
    assert persons.num_rows == 24
    assert sorted(set(persons.column("round").to_pylist())) == ["2018", "2022"]
    assert set(persons.column("synthetic").to_pylist()) == {False, True}
    metadata = pq.read_metadata(out / "persons" / "source=enpove" / "round=2022" / "part-0.parquet").metadata
    assert metadata[b"schema_version"].decode() == schema.SCHEMA_VERSION and metadata[b"synthetic"] == b"true"


def test_a_column_outside_the_schema_stops_the_export(tmp_path):
    store = build_store(tmp_path, extra_person_column="phone")
    out = tmp_path / "exports"
    with pytest.raises(SchemaViolation, match="phone"):
        run_export(store, out=out)
    assert not (out / "persons").exists() and not (out / "households").exists()


def test_no_store_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="surveys refresh"):
        run_export(tmp_path / "nowhere", out=tmp_path / "exports")


def test_derived_column_descriptions_follow_the_table_schemas():
    from pipelines.export import DERIVED_COLUMNS

    with DERIVED_COLUMNS.open(encoding="utf-8", newline="") as handle:
        described = {(row["table"], row["column"]) for row in csv.DictReader(handle)}
    assert described == {(t, c) for t, cols in SCHEMAS.items() for c in cols}



def test_the_dictionarys_categories_are_the_vocabularies_the_code_writes():
    """The dictionary is documentation for other teams: its category lists are checked against the constants the
    tables are written from, so a new flag, theme or kind cannot be missing from it."""
    from pipelines.compare import ADJUSTMENTS, REASONS
    from pipelines.estimation.flags import FLAGS
    from pipelines.export import DERIVED_COLUMNS
    from pipelines.indicators.catalogue import CONTEXT, THEMES
    from pipelines.indicators.frames import FRAMES
    from pipelines.indicators.tables import COVERAGES, KINDS, ORIGINS

    published = ORIGINS[-1]
    tested = tuple(k for k in KINDS if k != "reconciliation")  # a reconciliation is never tested: no family
    expected = {
        ("indicators", "theme"): (*THEMES, CONTEXT), ("indicators", "origin"): ORIGINS,
        ("indicators", "flag"): (*FLAGS, published),
        ("comparisons", "kind"): KINDS, ("comparisons", "family"): tested,
        ("comparisons", "theme"): (*THEMES, CONTEXT), ("comparisons", "coverage"): COVERAGES,
        ("comparisons", "origin_a"): ORIGINS, ("comparisons", "origin_b"): ORIGINS,
        ("comparisons", "adjust_method"): ADJUSTMENTS,
        ("comparisons", "flags"): tuple(k for k in REASONS if k != "note"),  # a note never makes a pair incomparable
        ("contrasts", "origin"): tuple(o for o in ORIGINS if o != published), ("contrasts", "theme"): THEMES,
        ("policy_frames", "frame"): FRAMES,
    }
    with DERIVED_COLUMNS.open(encoding="utf-8", newline="") as handle:
        listed = {(r["table"], r["column"]): set(r["categories"].split(";"))
                  for r in csv.DictReader(handle) if r["categories"]}
    assert listed == {key: set(values) for key, values in expected.items()}


def test_policy_frames_tag_every_exported_indicator(exported):
    """The GCM / SDG / MGI tags leave as one long table that joins to the indicators on `indicator_id`; a published
    figure without a row of its own takes its concept's tags."""
    import polars as pl

    _, out, lines = exported
    tags = pl.read_parquet(out / "policy_frames.parquet")
    indicators = pl.read_parquet(out / "indicators.parquet")
    assert set(tags["frame"]) == {"gcm", "sdg", "mgi"}
    fies = tags.filter((pl.col("indicator_id") == "fies_moderate_severe") & (pl.col("frame") == "sdg"))
    assert fies["code"].to_list() == ["2.1.2"]
    inherited = tags.filter(pl.col("indicator_id") == "multisector_lima_food_insecurity_severe")
    assert set(inherited["tagged_as"]) == {"fies_severe"} and "2.1.2" in inherited["code"].to_list()
    gcm = indicators.join(tags.filter(pl.col("frame") == "gcm"), on="indicator_id", how="inner")
    assert set(gcm.filter(pl.col("theme") == "employment")["code"]) >= {"6"}
    assert any(line.startswith("exported policy_frames:") for line in lines)
