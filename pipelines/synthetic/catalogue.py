"""The generator's catalogues, read from CSV: INEI's column layout, strata, control codes, universes, skip logic.

Everything the generator knows about II ENPOVE 2022 beyond the round spec lives in these files, never in code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent


def _read(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False, comment_prefix="#").fill_null("")


@dataclass(frozen=True)
class Catalogue:
    """INEI's layout (module -> columns in order) and the generator's parameters."""

    layout: dict[str, tuple[str, ...]]
    strata: pl.DataFrame
    control_codes: pl.DataFrame
    universes: pl.DataFrame
    routing: pl.DataFrame
    multiple_response: frozenset[str]

    def universe(self, module: str) -> tuple[bool, int]:
        """(migrants only, minimum age) of a person module."""
        row = self.universes.filter(pl.col("module") == module)
        return row["migrants_only"][0] == "true", int(row["min_age"][0])


def read_layout(spec_folder: Path) -> dict[str, tuple[str, ...]]:
    """`layout.csv` of a round spec: module (or `consolidated`) -> INEI's columns in file order."""
    frame = _read(spec_folder / "layout.csv").with_columns(pl.col("position").cast(pl.Int32)).sort("module", "position")
    return {m: tuple(g["column"]) for (m,), g in frame.group_by("module", maintain_order=True)}


def load_catalogue(spec_folder: Path) -> Catalogue:
    return Catalogue(
        layout=read_layout(spec_folder),
        strata=_read(HERE / "strata.csv").with_columns(pl.col("share", "relative_weight").cast(pl.Float64)),
        control_codes=_read(HERE / "control_codes.csv").with_columns(
            pl.col("responding", "nonresponding").cast(pl.Float64)
        ),
        universes=_read(HERE / "universes.csv"),
        routing=_read(HERE / "routing.csv"),
        multiple_response=frozenset(_read(HERE / "multiple_response.csv")["column"]),
    )
