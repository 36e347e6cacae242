"""`surveys export --format dta|sav`: the harmonised tables read back with pyreadstat against the store.

Same rows in the same order, every category decoded through the file's value labels to the package's label of the
stored category, booleans 0/1 labelled No/Yes (Sí), numbers as stored, variable labels in the language asked, the
names Stata cannot hold shortened as `surveys/labels.csv` says, and SYNTHETIC rounds said in the file label.
"""

from __future__ import annotations

import math

import polars as pl
import pyreadstat
import pytest

from pipelines.statfiles import BOOLEAN, STATA_NAME_MAX, check_stata_names, load_labels
from pipelines.store import current_version, read_manifest
from surveys import schema
from tests.helpers import run_surveys

READERS = {"dta": pyreadstat.read_dta, "sav": pyreadstat.read_sav}


@pytest.fixture(scope="module", params=[("embedded", "sav", "en"), ("embedded", "dta", "es"), ("real", "dta", "es"),
                                        ("real", "sav", "en")], ids=lambda p: "-".join(p))
def exported(request, tmp_path_factory):
    kind, fmt, lang = request.param
    store = request.getfixturevalue(f"{kind}_store")
    out = tmp_path_factory.mktemp(f"{fmt}-{kind}")
    result = run_surveys("export", "--store", str(store), "--format", fmt, "--lang", lang,
                         "--out", str(out))
    assert result.exit_code == 0, result.output
    return store, out, fmt, load_labels(lang)


def _same(read, stored) -> bool:
    if stored is None:
        return read is None or (isinstance(read, float) and math.isnan(read)) or read == ""
    if isinstance(stored, float):
        return math.isclose(read, stored, rel_tol=1e-15)
    return read == stored


def test_files_hold_the_stored_rows_categories_and_labels(exported):
    store, out, fmt, labels = exported
    for record in read_manifest(store).values():
        for table in ("households", "persons"):
            stored = pl.read_parquet(current_version(store) / table / f"source={record.source}" / f"round={record.round}"
                                     / "part-0.parquet")
            frame, meta = READERS[fmt](out / f"{table}_{record.source}_{record.round}.{fmt}", output_format="polars")
            names = labels.stata_names if fmt == "dta" else {}
            assert frame.columns == [names.get(c.name, c.name) for c in schema.TABLES[table]]
            assert frame.height == stored.height
            assert ("SYNTHETIC" in meta.file_label) == record.synthetic
            for column in schema.TABLES[table]:
                name = names.get(column.name, column.name)
                assert meta.column_names_to_labels[name] == labels.variables[column.name]
                read = frame[name].to_list()
                if column.categories or column.dtype == pl.Boolean:
                    key = column.name if column.categories else BOOLEAN
                    value_labels = meta.variable_value_labels[name]
                    expected = [None if v is None else labels.values[key][str(v).lower() if key == BOOLEAN else v]
                                for v in stored[column.name].cast(pl.String).to_list()]
                    decoded = [None if v is None else value_labels[v] for v in read]
                    assert decoded == expected, (table, column.name)
                else:
                    bad = [(r, s) for r, s in zip(read, stored[column.name].to_list()) if not _same(r, s)]
                    assert not bad, (table, column.name, bad[:3])


def test_labels_are_complete_short_and_fit_stata():
    for lang in ("es", "en"):
        labels = load_labels(lang)
        assert all(0 < len(text) <= 80 for text in labels.variables.values())
        assert all(0 < len(text) <= 80 for values in labels.values.values() for text in values.values())
        check_stata_names(labels.stata_names)
    assert load_labels("es").values[BOOLEAN] == {"false": "No", "true": "Sí"}
    assert all(len(n) <= STATA_NAME_MAX for n in load_labels("en").stata_names.values())
