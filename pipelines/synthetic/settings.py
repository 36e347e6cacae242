"""The generator's settings of one round, read from the round's folder: `layout.csv` and `synthetic/`.

The round spec (`source.yaml`) already says which modules are the household and person bases, who has a row in
each person module (module universes) and the keys; the settings add what only a generator needs.

`surveys/<source>_<round>/synthetic/synthetic.yaml` says which layout column plays which role (cluster, dwelling,
household, person number, result code, persons count, informant, ...), INEI's file names and formats, and the
population model's distributions; the CSVs beside it hold the strata, control codes, skip logic and
multiple-response columns. Everything the generator knows about a round lives in these files, never in code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from pipelines.errors import SpecError

FOLDER = "synthetic"
SETTINGS = f"{FOLDER}/synthetic.yaml"
ROLES_REQUIRED = ("psu", "dwelling", "household", "person", "response")
ROLES_OPTIONAL = ("households_in_dwelling", "selection_number", "persons_count", "informant")


def _read(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False, comment_prefix="#").fill_null("")


@dataclass(frozen=True)
class GeneratorSettings:
    """One round's layout (module -> columns in order), the generator's column roles and its parameters."""

    folder: Path
    title: str
    columns: dict[str, str]            # role -> layout column
    copies: dict[str, str]             # column -> control column it repeats
    person_constants: dict[str, str]
    household_constants: dict[str, str]
    zero_pad: dict[str, int]
    compose: dict[str, str]             # column -> template of other columns ("1{UBIGEO}{VIVIENDA}")
    text_columns: frozenset[str]        # written as text in SPSS even when they look numeric
    informant_min_age: int
    proxy_informant: str
    target_weighted_migrants: float
    files: dict[str, str]              # module -> file name without extension
    formats: dict[str, str]            # format -> extension
    default_formats: tuple[str, ...]
    bare_code_files: frozenset[str]
    population: dict[str, Any]
    long_parts: dict[str, dict[str, Any]]  # part -> {rows: P(0, 1, 2... rows per person), constants}
    rule_inputs: dict[str, Any]        # {yes_share, marked_share, marked_code}: draw the inputs of rules; {} = not
    layout: dict[str, tuple[str, ...]]
    strata: pl.DataFrame
    control_codes: pl.DataFrame
    routing: pl.DataFrame
    multiple_response: frozenset[str]

    def role(self, name: str) -> str | None:
        """The layout column playing `name` (see `synthetic.yaml`), or None when the round has none."""
        return self.columns.get(name)

    def informant_column(self, module: str) -> str | None:
        pattern = self.role("informant")
        return pattern.format(module=module) if pattern else None


def read_layout(spec_folder: Path) -> dict[str, tuple[str, ...]]:
    """`layout.csv` of a round spec: module (or `consolidated`) -> INEI's columns in file order."""
    frame = _read(spec_folder / "layout.csv").with_columns(pl.col("position").cast(pl.Int32)).sort("module", "position")
    return {m: tuple(g["column"]) for (m,), g in frame.group_by("module", maintain_order=True)}


def _optional_csv(path: Path, columns: tuple[str, ...]) -> pl.DataFrame:
    return _read(path) if path.is_file() else pl.DataFrame(schema=dict.fromkeys(columns, pl.String))


def _settings(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"cannot read the synthetic round's settings: {exc}", where=str(path)) from exc
    columns = raw.get("columns", {})
    missing = [r for r in ROLES_REQUIRED if r not in columns]
    unknown = sorted(set(columns) - set(ROLES_REQUIRED) - set(ROLES_OPTIONAL))
    if missing or unknown:
        raise SpecError(f"columns: roles {missing} missing, {unknown} unknown", where=str(path),
                        hint=f"Roles: {', '.join(ROLES_REQUIRED + ROLES_OPTIONAL)}.")
    for key in ("files", "formats", "population", "target_weighted_migrants"):
        if key not in raw:
            raise SpecError(f"missing key `{key}`", where=str(path))
    return raw


def load_settings(spec_folder: Path) -> GeneratorSettings:
    """The generator's settings of the round whose spec folder is `spec_folder`."""
    folder = Path(spec_folder) / FOLDER
    raw = _settings(Path(spec_folder) / SETTINGS)
    formats = {str(k): str(v) for k, v in raw["formats"].items()}
    settings = GeneratorSettings(
        folder=Path(spec_folder),
        title=str(raw.get("title", "")),
        columns={str(k): str(v) for k, v in raw["columns"].items()},
        copies={str(k): str(v) for k, v in raw.get("copies", {}).items()},
        person_constants={str(k): str(v) for k, v in raw.get("person_constants", {}).items()},
        household_constants={str(k): str(v) for k, v in raw.get("household_constants", {}).items()},
        zero_pad={str(k): int(v) for k, v in raw.get("zero_pad", {}).items()},
        compose={str(k): str(v) for k, v in raw.get("compose", {}).items()},
        text_columns=frozenset(str(c) for c in raw.get("text_columns", ())),
        informant_min_age=int(raw.get("informant_min_age", 0)),
        proxy_informant=str(raw.get("proxy_informant", "1")),
        target_weighted_migrants=float(raw["target_weighted_migrants"]),
        files={str(k): str(v) for k, v in raw["files"].items()},
        formats=formats,
        default_formats=tuple(raw.get("default_formats", list(formats)[:1])),
        bare_code_files=frozenset(str(m) for m in raw.get("bare_code_files", ())),
        population=raw["population"],
        long_parts={str(k): v for k, v in raw.get("long_parts", {}).items()},
        rule_inputs=raw.get("rule_inputs", {}),
        layout=read_layout(Path(spec_folder)),
        strata=_read(folder / "strata.csv").with_columns(pl.col("share", "relative_weight").cast(pl.Float64)),
        control_codes=_read(folder / "control_codes.csv").with_columns(
            pl.col("responding", "nonresponding").cast(pl.Float64)
        ),
        routing=_optional_csv(folder / "routing.csv", ("target", "router", "router_value", "source_var")),
        multiple_response=frozenset(_optional_csv(folder / "multiple_response.csv", ("column",))["column"]),
    )
    drawn = set(settings.control_codes["column"]) | set(settings.copies)
    if settings.columns["response"] not in drawn:
        raise SpecError(f"the household's response code {settings.columns['response']} is neither in "
                        "control_codes.csv nor among `copies`", where=str(Path(spec_folder) / SETTINGS),
                        hint="Give its codes for responding and non-responding households in control_codes.csv.")
    return settings
