"""Read: module files are recognised by number, INEI code or title, in any case or Unicode form, in CSV (code.label
or bare codes), SPSS and Stata; every form harmonises to the same tables as INEI's own CSV."""

from __future__ import annotations

import doctest
import shutil
import unicodedata

import polars as pl
import pyreadstat
import pytest

from pipelines.derive import code_of
from pipelines.errors import SourceFileError
from pipelines.harmonise import harmonise_round
from pipelines.read import CONSOLIDATED, ModuleFile, find_module_files, fold, read_module, read_round
from tests.helpers import REPO, shared_path

FILES = {
    "100": "Características de la vivienda y del hogar.csv",
    "200": "Características de los residentes del hogar.csv",
    "500": "Educación.csv",
}
KEYS = {"CCDD", "CCPP", "CCDI", "CONGLOMERADO", "NSELV", "VIVIENDA", "THOGAR", "NHOGAR", "P200_N", "P502"}


def bare_text(frame: pl.DataFrame) -> pl.DataFrame:
    """INEI's consolidated CSV form: bare codes, blanks as a single space."""
    return frame.with_columns(code_of(pl.col(c)).alias(c) for c in frame.columns if c not in KEYS)


def bare(frame: pl.DataFrame) -> pl.DataFrame:
    """INEI's SPSS/Stata form: bare codes, numbers as numbers, identifiers as text."""
    text = bare_text(frame).with_columns(pl.col(c).str.strip_chars() for c in frame.columns if c not in KEYS)
    return text.with_columns(
        pl.col(c).replace("", None).cast(pl.Float64) for c in text.columns
        if c not in KEYS and text[c].replace("", None).cast(pl.Float64, strict=False).null_count()
        == text[c].replace("", None).null_count()
    )


@pytest.fixture(scope="module")
def reference(enpove_2022_spec, tmp_path_factory):
    """INEI's labelled CSVs of modules 100, 200 and 500, harmonised: what every other form must give."""
    folder = tmp_path_factory.mktemp("labelled")
    for name in FILES.values():
        (folder / name).symlink_to(shared_path("data", "enpove", "2022", name))
    return harmonise_round(enpove_2022_spec, read_round(folder, enpove_2022_spec))


@pytest.mark.parametrize("form", ["sav", "dta", "csv_bare"])
def test_every_format_harmonises_alike(tmp_path, enpove_2022_spec, reference, form):
    names = {"100": "enpove2022_modulo_100", "200": "769-Modulo1712", "500": "EDUCACION_500"}
    for module, name in FILES.items():
        raw = pl.read_csv(shared_path("data", "enpove", "2022", name), infer_schema=False)
        frame = bare_text(raw) if form == "csv_bare" else bare(raw)
        target = tmp_path / f"{names[module]}.{form.split('_')[0]}"
        if form == "sav":
            pyreadstat.write_sav(frame.rename({"P211_N_AÑOS": "P211_N_ANOS"}, strict=False), str(target))
        elif form == "dta":
            pyreadstat.write_dta(frame.rename({"P211_N_AÑOS": "P211_N_ANOS"}, strict=False), str(target))
        else:
            frame.write_csv(target)
    result = harmonise_round(enpove_2022_spec, read_round(tmp_path, enpove_2022_spec))
    assert result.households.equals(reference.households)
    assert result.persons.equals(reference.persons)


def test_names_match_case_insensitively_and_in_any_unicode_form(tmp_path, enpove_2022_spec):
    for name in FILES.values():
        nfd = unicodedata.normalize("NFD", name).upper()
        shutil.copy(shared_path("data", "enpove", "2022", name), tmp_path / nfd)
    found = find_module_files(tmp_path, enpove_2022_spec)
    assert sorted(found) == ["100", "200", "500"]
    assert fold("EDUCACIÓN") == fold(unicodedata.normalize("NFD", "educación"))


@pytest.mark.parametrize("name, module", [
    ("769-Modulo1711.csv", "100"), ("enpove_2022_200.SAV", "200"), ("modulo_1716_empleo.dta", "600"),
    ("ENPOVE2022_V_200-300-400-500-600-700-800.csv", CONSOLIDATED), ("Salud.csv", "400"), ("m800.csv", "800"),
])
def test_module_recognised_by_number_code_or_title(tmp_path, enpove_2022_spec, name, module):
    (tmp_path / name).write_text("A,B\n1,2\n")
    # The other required modules, so that the folder is a complete round.
    if module != "100":
        (tmp_path / "Características de la vivienda y del hogar.csv").write_text("A,B\n1,2\n")
    if module not in ("200", CONSOLIDATED):
        (tmp_path / "Características de los residentes del hogar.csv").write_text("A,B\n1,2\n")
    found = find_module_files(tmp_path, enpove_2022_spec)
    assert found[module].path.name == name


def test_two_files_for_one_module(tmp_path, enpove_2022_spec):
    for name in ("modulo_100.csv", "Características de la vivienda y del hogar.csv"):
        (tmp_path / name).write_text("A,B\n1,2\n")
    with pytest.raises(SourceFileError, match="two files for module 100"):
        find_module_files(tmp_path, enpove_2022_spec)


def test_undocumented_inei_code_is_reported(tmp_path, enpove_2022_spec):
    (tmp_path / "769-Modulo1719.csv").write_text("A,B\n1,2\n")
    with pytest.raises(SourceFileError, match="1719"):
        find_module_files(tmp_path, enpove_2022_spec)


def test_consolidated_and_separate_files_clash(tmp_path, enpove_2022_spec):
    for name in ("modulo_100.csv", "ENPOVE2022_V_200-300-400-500-600-700-800.csv", "Educación.csv"):
        (tmp_path / name).write_text("A,B\n1,2\n")
    with pytest.raises(SourceFileError, match=r"consolidated file and separate files for modules \['500'\]"):
        find_module_files(tmp_path, enpove_2022_spec)


def test_missing_column_is_named(tmp_path, enpove_2022_spec):
    frame = pl.read_csv(shared_path("data", "enpove", "2022", FILES["500"]), infer_schema=False)
    frame.drop("P501B").write_csv(tmp_path / "Educación.csv")
    with pytest.raises(SourceFileError, match=r"\['P501B'\] are not in the file"):
        read_module(ModuleFile("500", tmp_path / "Educación.csv"), enpove_2022_spec.source_columns("500"))


def test_read_round_reads_each_module_when_asked_with_the_columns_the_spec_needs(enpove_2022_spec):
    """What the tests used to write by hand (each module read with its spec's columns, the consolidated file with
    every person module's) harmonises to the very tables `read_round` gives."""
    spec, asked = enpove_2022_spec, []
    modules = read_round(REPO / "tests" / "fixtures" / "enpove_2022" / "consolidated", spec, progress=asked.append)
    assert sorted(modules) == ["100", CONSOLIDATED] and asked == []  # found, nothing read yet
    person_columns = tuple(dict.fromkeys(c for m in spec.consolidated.modules for c in spec.source_columns(m)))
    consolidated = modules[CONSOLIDATED]
    assert asked == [CONSOLIDATED] and modules.encodings == {CONSOLIDATED: consolidated.encoding}
    assert set(person_columns) <= set(consolidated.frame.columns)
    by_hand = {"100": read_module(modules.files["100"], spec.source_columns("100")),
               CONSOLIDATED: read_module(modules.files[CONSOLIDATED], person_columns)}
    read, hand = harmonise_round(spec, modules), harmonise_round(spec, by_hand)
    assert read.households.equals(hand.households) and read.persons.equals(hand.persons)


def test_read_round_docstring_example_holds_on_the_real_round():
    doc = (read_round.__doc__.replace("data/raw/enpove/2022", shared_path("data", "enpove", "2022").as_posix())
           .replace("surveys/enpove_2022", (REPO / "surveys" / "enpove_2022").as_posix()))
    example = doctest.DocTestParser().get_doctest(doc, {"read_round": read_round}, "read_round", None, 0)
    result = doctest.DocTestRunner().run(example)  # a failing line is printed with what it gave
    assert result.attempted == 7 and result.failed == 0


def test_spss_metadata_is_read_once_per_version_of_a_file(tmp_path, monkeypatch):
    """The round check (`columns_of`) and the read share pyreadstat's metadata of a file; a file written again is
    read again, so a changed file is never read with the metadata of the one it replaced."""
    from pipelines import read

    path = tmp_path / "chapter.sav"
    pyreadstat.write_sav(pl.DataFrame({"CONGLOMERADO": ["001", "002"], "P207": [1.0, 2.0]}), str(path))
    calls = []
    real = pyreadstat.read_sav

    def counting(*args, **kwargs):
        calls.append(kwargs.get("metadataonly", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(pyreadstat, "read_sav", counting)
    assert read.columns_of(path) == ["CONGLOMERADO", "P207"]
    frame = read_module(ModuleFile("200", path), ("CONGLOMERADO", "P207")).frame
    assert frame["P207"].to_list() == ["1", "2"]
    assert calls.count(True) == 1
    pyreadstat.write_sav(pl.DataFrame({"CONGLOMERADO": ["001"], "P208": [3.0]}), str(path))
    assert read.columns_of(path) == ["CONGLOMERADO", "P208"]
    assert calls.count(True) == 2


@pytest.mark.parametrize("compressed", [False, True])  # read by pipelines.savfile, by readstat
def test_spss_numbers_become_text_whole_numbers_without_a_decimal_point(tmp_path, compressed):
    """Codes and identifiers are SPSS numbers: a column of whole numbers reads `1`, not `1.0`; a column with any
    fraction keeps it on every value, and a column with no value is null text."""
    path = tmp_path / "chapter.sav"
    pyreadstat.write_sav(pl.DataFrame({
        "CODE": [1.0, None, 20.0], "SHARE": [0.5, 2.0, None], "EMPTY": [None, None, None], "NAME": ["a", " ", "c"],
    }, schema_overrides={"EMPTY": pl.Float64}), str(path), row_compress=compressed)
    frame = read_module(ModuleFile("200", path), ("CODE", "SHARE", "EMPTY", "NAME")).frame
    assert frame.schema == dict.fromkeys(("CODE", "SHARE", "EMPTY", "NAME"), pl.String)
    assert frame.rows() == [("1", "0.5", None, "a"), (None, "2.0", None, None), ("20", None, None, "c")]


@pytest.mark.parametrize("folder", [shared_path("data", "enpove", "2018"), shared_path("data", "enpove", "2022"),
                                    REPO / "tests" / "fixtures" / "enpove_2022" / "consolidated"])
def test_modules_are_read_ahead_in_the_order_harmonising_asks_for_them(folder, enpove_2018_spec, enpove_2022_spec):
    """`reading_order` is the order `harmonise_round` asks for the modules in, so each read-ahead is the module asked
    next (none is read twice, none in vain), and the tables are those of reading each module when asked."""
    from pipelines.harmonise import reading_order

    spec = enpove_2018_spec if "2018" in folder.as_posix() else enpove_2022_spec
    asked, read = [], []
    found = find_module_files(folder, spec)
    with read_round(folder, spec, found=found, progress=asked.append, ahead=reading_order(spec, found)) as modules:
        real = modules._read
        modules._read = lambda module: read.append(module) or real(module)
        ahead = harmonise_round(spec, modules)
    assert asked == reading_order(spec, found) == read
    when_asked = harmonise_round(spec, read_round(folder, spec))
    assert ahead.households.equals(when_asked.households) and ahead.persons.equals(when_asked.persons)


def test_a_read_ahead_error_is_raised_when_its_module_is_asked_for(tmp_path, enpove_2022_spec):
    """Module 500 is read ahead while 300 is harmonised; its missing column stops the round as a read when asked
    would, naming the file and the variable."""
    from pipelines.harmonise import reading_order

    for path in shared_path("data", "enpove", "2022").iterdir():
        shutil.copy(path, tmp_path)
    frame = pl.read_csv(tmp_path / FILES["500"], infer_schema=False)
    frame.drop("P501B").write_csv(tmp_path / FILES["500"])
    found = find_module_files(tmp_path, enpove_2022_spec)
    order = reading_order(enpove_2022_spec, found)
    asked = []
    with pytest.raises(SourceFileError, match=r"\['P501B'\] are not in the file") as error, \
            read_round(tmp_path, enpove_2022_spec, progress=asked.append, ahead=order) as modules:
        harmonise_round(enpove_2022_spec, modules)
    assert FILES["500"] in str(error.value) and asked == order[:order.index("500") + 1]


@pytest.mark.parametrize("limit, threads", [(None, {"MainThread", "read-ahead"}), (0, {"MainThread"})])
def test_only_files_below_the_read_ahead_size_are_read_ahead(monkeypatch, enpove_2022_spec, limit, threads):
    """The real round's files are read in the read-ahead thread, all but the first; a file of `READ_AHEAD_BYTES` or
    more (every file, with the limit at 0) is read in the caller's thread when asked for, one raw module at a time."""
    import threading

    from pipelines import read
    from pipelines.harmonise import reading_order

    if limit is not None:
        monkeypatch.setattr(read, "READ_AHEAD_BYTES", limit)
    folder = shared_path("data", "enpove", "2022")
    found = find_module_files(folder, enpove_2022_spec)
    where = []
    with read_round(folder, enpove_2022_spec, ahead=reading_order(enpove_2022_spec, found)) as modules:
        real = modules._read
        modules._read = lambda module: where.append(threading.current_thread().name.split("_")[0]) or real(module)
        harmonise_round(enpove_2022_spec, modules)
    assert set(where) == threads and where[0] == "MainThread" and len(where) == len(found)
