"""From harmonised-level records to INEI's module files: invert the crosswalk, fill the layout, respect universes.

Every frame returned here holds INEI's bare codes as text (blank = null); `write.py` renders `code.label` or SPSS.
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl

from pipelines.specs import RoundSpec, VariableMap
from pipelines.synthetic.settings import GeneratorSettings

INFORMATIVE = 10.0  # a code that leaves a sibling harmonised column missing is drawn this many times less often


def invert(values: pl.DataFrame, hvar: str, svar: str, target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each harmonised value in `target`, a source code of `svar` that the crosswalk maps to it."""
    rows = values.filter((pl.col("source_var") == svar) & (pl.col("harmonised_var") == hvar) & ~pl.col("is_missing"))
    lossy = set(values.filter((pl.col("source_var") == svar) & pl.col("is_missing"))["source_value"])
    out = np.full(target.size, None, dtype=object)
    for (value,), group in rows.sort("harmonised_value", "source_value").group_by("harmonised_value", maintain_order=True):
        mask = target == value
        if mask.any():
            codes = np.asarray(group["source_value"].to_list(), dtype=object)
            weight = np.array([1.0 / INFORMATIVE if c in lossy else 1.0 for c in codes])
            out[mask] = codes[rng.choice(codes.size, size=int(mask.sum()), p=weight / weight.sum())]
    unmatched = (target != None) & (out == None)  # noqa: E711 (object arrays)
    if unmatched.any():
        raise ValueError(f"{hvar} values {sorted(set(target[unmatched]))} have no {svar} code in values.csv")
    return out


def _random_codes(values: pl.DataFrame, svar: str, n: int, rng: np.random.Generator) -> np.ndarray:
    rows = values.filter(pl.col("source_var") == svar)
    missing = set(rows.filter(pl.col("is_missing"))["source_value"])
    codes = np.asarray(sorted(set(rows["source_value"]) - missing, key=lambda c: (len(c), c)), dtype=object)
    return codes[rng.integers(0, codes.size, n)] if codes.size else np.full(n, None, dtype=object)


def _random_copy(spec: RoundSpec, var: VariableMap, n: int, rng: np.random.Generator) -> np.ndarray:
    from surveys import schema

    dtype = schema.columns(var.table)[var.harmonised_var].dtype
    if dtype.is_float():
        return np.round(rng.lognormal(7.0, 0.6, n), 2).astype(str).astype(object)
    return rng.integers(0, 10, n).astype(str).astype(object)


def _routing_mask(settings: GeneratorSettings, frame: pl.DataFrame, hvar: str, svar: str) -> np.ndarray | None:
    rules = settings.routing.filter(pl.col("target") == hvar)
    if rules.height == 0:
        return None
    own = rules.filter(pl.col("source_var") == svar)
    mask = np.zeros(frame.height, dtype=bool)
    for router, value in own.select("router", "router_value").rows():
        mask |= (frame[router] == value).fill_null(False).to_numpy()
    return mask


def crosswalk_columns(spec: RoundSpec, settings: GeneratorSettings, module: str, frame: pl.DataFrame,
                      rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Source columns of `module` for the rows of `frame` (harmonised columns, all rows in the universe)."""
    n, out = frame.height, {}
    variables = spec.variables_of(module)
    for var in variables:
        source = var.source_vars[0]
        if source in frame.columns:  # set with the design (the strata's geography), not drawn
            continue
        if var.transform == "copy" and source not in out:
            out[source] = (frame[var.harmonised_var].cast(pl.String).to_numpy().astype(object)
                           if var.harmonised_var in frame.columns else _random_copy(spec, var, n, rng))
        elif var.derive_name == "age_years":
            age = frame["age"].to_numpy()
            out[var.source_vars[0]] = np.where(age >= 1, age.astype(str), None).astype(object)
            out[var.source_vars[1]] = np.where(age == 0, frame["months"].to_numpy().astype(str), None).astype(object)
        elif var.transform == "recode" and source not in out:
            primary = next(v.harmonised_var for v in variables if v.transform == "recode" and v.source_vars[0] == source)
            if primary in frame.columns:
                codes = invert(spec.values, primary, source, frame[primary].to_numpy().astype(object), rng)
                route = _routing_mask(settings, frame, primary, source)
                out[source] = codes if route is None else np.where(route, codes, None)
            else:
                out[source] = _random_codes(spec.values, source, n, rng)
    if settings.rule_inputs:  # inputs of rules (any_yes, precedence, derive:...) that no copy or recode has drawn
        for var in variables:
            if var.transform in ("copy", "recode") or var.derive_name == "age_years":
                continue
            for name in var.source_vars:
                if name not in out and name not in frame.columns:
                    out[name] = _rule_input(spec, settings, name, n, rng)
    return out


def _rule_input(spec: RoundSpec, settings: GeneratorSettings, name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """A multiple-response option marked with the round's `marked_share`; a coded question (values.csv) at
    random; else a yes/no item with `yes_share` (the round's codes)."""
    draws = rng.random(n)
    if name in settings.multiple_response:
        marked = np.where(draws < settings.rule_inputs["marked_share"], str(settings.rule_inputs["marked_code"]),
                          spec.codes.not_marked)
        return marked.astype(object)
    if spec.values.filter(pl.col("source_var") == name).height:
        return _random_codes(spec.values, name, n, rng)
    return np.where(draws < settings.rule_inputs["yes_share"], spec.codes.yes, spec.codes.no).astype(object)


def _zfill(expr: pl.Expr, width: int) -> pl.Expr:
    return expr.cast(pl.String).str.zfill(width)


def zero_padded(settings: GeneratorSettings, frame: pl.DataFrame) -> list[pl.Expr]:
    """The round's zero-padded identifiers among `frame`'s columns."""
    return [_zfill(pl.col(c), width) for c, width in settings.zero_pad.items() if c in frame.columns]


def _template_parts(template: str) -> list[tuple[bool, str]]:
    """("{UBIGEO}x{ZONA}") -> [(True, "UBIGEO"), (False, "x"), (True, "ZONA")]: columns and literal text."""
    return [(i % 2 == 1, part) for i, part in enumerate(re.split(r"\{([^{}]+)\}", template)) if part]


def composed(settings: GeneratorSettings, frame: pl.DataFrame, *, unless_all_in: frozenset[str] = frozenset()) -> pl.DataFrame:
    """Apply the round's `compose` templates whose columns `frame` has (in order, each seeing the ones before);
    templates whose columns are all in `unless_all_in` were applied at an earlier stage and are skipped."""
    for column, template in settings.compose.items():
        parts = _template_parts(template)
        names = {name for is_column, name in parts if is_column}
        if not names <= set(frame.columns) or (unless_all_in and names <= unless_all_in):
            continue
        frame = frame.with_columns(pl.concat_str(
            [pl.col(name).cast(pl.String) if is_column else pl.lit(name) for is_column, name in parts]
        ).alias(column))
    return frame


# The generator's identifier columns (population.py) and the role each plays in the round's layout.
ID_ROLES = {"_psu_code": "psu", "_dwelling": "dwelling", "_household": "household",
            "_households_in_dwelling": "households_in_dwelling", "_selection": "selection_number"}


def _control_codes(settings: GeneratorSettings, responding: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Control columns drawn from `control_codes.csv`, by response status, and the columns that copy them."""
    controls = {}
    for column, group in settings.control_codes.group_by("column", maintain_order=True):
        codes = np.asarray(group["code"].to_list(), dtype=object)
        picks = {}
        for key in ("responding", "nonresponding"):
            p = group[key].to_numpy()
            picks[key] = codes[rng.choice(codes.size, size=responding.size, p=p / p.sum())]
        controls[column[0]] = np.where(responding, picks["responding"], picks["nonresponding"])
    for column, copied in settings.copies.items():
        controls[column] = controls[copied]
    return controls


def household_base(spec: RoundSpec, settings: GeneratorSettings, hh: pl.DataFrame, persons: pl.DataFrame,
                   rng: np.random.Generator) -> pl.DataFrame:
    """Identifiers, geography, result codes and weight of every listed dwelling × household, in layout columns."""
    strata = settings.strata.with_row_index("stratum").with_columns(pl.col("stratum").cast(pl.Int64))
    geography = [c for c in settings.strata.columns if c not in ("share", "relative_weight")]
    migrants = persons.filter(pl.col("migrant") == "true").group_by("row").len("_migrants")
    hh = hh.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
    base = hh.join(strata, on="stratum", how="left", maintain_order="left").join(
        migrants.with_columns(pl.col("row").cast(pl.Int64)), on="row", how="left", maintain_order="left")
    raw = base["relative_weight"].to_numpy() * base["psu_jitter"].to_numpy()
    weighted = float((raw * base["_migrants"].fill_null(0).to_numpy()).sum())
    controls = _control_codes(settings, base["responding"].to_numpy(), rng)
    ids = {column: settings.role(role) for column, role in ID_ROLES.items() if settings.role(role)}
    count = settings.role("persons_count")
    # Identifiers without a role in the round stay under the generator's names (compose templates may use them).
    base = base.rename(ids).with_columns(
        pl.col(list(ids.values())).cast(pl.String),
        *(pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in geography),  # a blank geography is null
    )
    base = base.with_columns(
        *zero_padded(settings, base),
        *([pl.when(pl.col("responding")).then(pl.col("_migrants").fill_null(0).cast(pl.String)).alias(count)]
          if count else []),
        pl.Series(spec.design.weight, raw * (settings.target_weighted_migrants / weighted)).round(10).cast(pl.String),
        *(pl.Series(k, v, dtype=pl.String) for k, v in controls.items()),
        *(pl.lit(value, dtype=pl.String).alias(column) for column, value in settings.household_constants.items()),
    )
    return composed(settings, base)
