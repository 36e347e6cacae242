"""Harmonised-level synthetic households and persons: plausible joint distributions, no INEI codes yet.

Values are the common schema's categories (`"rented"`, `"true"`), so that `inei.py` can invert the crosswalk.
The distributions are the round's (`population:` in `surveys/<source>_<round>/synthetic/synthetic.yaml`); the
shape of the model (who is a spouse, how ages follow the head's) is here. Identifiers are the generator's own
columns (`_psu_code`, `_dwelling`, `_household`, `_households_in_dwelling`, `_selection`, `_person`), renamed to the
round's layout columns in `inei.py`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.synthetic.settings import GeneratorSettings

DWELLING_SPACING = 6  # dwelling numbers within a cluster step by up to this many
NONRESPONDING_FIRST = 31  # non-responding dwellings are numbered after the responding ones


def _pick(rng: np.random.Generator, choices: tuple[str, ...], p: np.ndarray, n: int) -> np.ndarray:
    return np.asarray(choices, dtype=object)[rng.choice(len(choices), size=n, p=p / p.sum())]


def _pick_from(rng: np.random.Generator, shares: dict[str, float], n: int) -> np.ndarray:
    return _pick(rng, tuple(shares), np.array(list(shares.values()), dtype=float), n)


def _bool_text(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, "true", "false").astype(object)


def _allocate(shares: np.ndarray, n: int, psu_size: int) -> np.ndarray:
    """Households per stratum, largest remainder, every stratum at least one PSU."""
    raw = shares / shares.sum() * n
    counts = np.maximum(np.floor(raw).astype(np.int64), min(psu_size, n // len(shares) or 1))
    short = n - counts.sum()
    order = np.argsort(-(raw - np.floor(raw)), kind="stable")
    for i in range(abs(short)):  # at most one pass over the strata
        counts[order[i % len(order)]] += 1 if short > 0 else -1
    return counts


def households(n: int, settings: GeneratorSettings, rng: np.random.Generator) -> pl.DataFrame:
    """`n` responding households plus a few non-responding dwellings, with their design and harmonised answers."""
    model = settings.population
    psu_size = int(model["psu_size"])
    counts = _allocate(settings.strata["share"].to_numpy(), n, psu_size)
    stratum = np.repeat(np.arange(settings.strata.height), counts)
    slot = np.concatenate([np.arange(c) for c in counts])  # position within stratum
    psu_local = slot // psu_size
    psu = np.cumsum(np.r_[1, (np.diff(stratum) != 0) | (np.diff(psu_local) != 0)]) - 1
    n_psu = psu[-1] + 1
    psu_code = np.sort(rng.choice(np.arange(1, 100_000), size=n_psu, replace=False))
    j = slot % psu_size
    second = (rng.random(n) < model["second_household"]) & (j >= 1)
    second[1:] &= ~second[:-1]
    dwelling = np.cumsum(~second) - 1
    dwelling_j = j - second  # the first household's slot for a second household
    number = 1 + dwelling_j * DWELLING_SPACING + rng.integers(0, DWELLING_SPACING, n_psu)[psu]
    in_dwelling = np.bincount(dwelling)[dwelling]
    frame = pl.DataFrame({
        "stratum": stratum, "psu": psu, "_psu_code": psu_code[psu], "_dwelling": number,
        "_household": 1 + second.astype(np.int64), "_households_in_dwelling": in_dwelling,
        "responding": np.ones(n, bool),
    })
    m = max(1, round(n * model["nonresponse_rate"]))
    extra_psu = np.sort(rng.choice(n_psu, size=m, replace=n_psu < m))
    extra = pl.DataFrame({
        "psu": extra_psu, "_dwelling": NONRESPONDING_FIRST + np.arange(m) - np.searchsorted(extra_psu, extra_psu),
        "_household": np.ones(m, np.int64), "_households_in_dwelling": np.ones(m, np.int64),
        "responding": np.zeros(m, bool),
    }).join(frame.group_by("psu").agg(pl.col("stratum", "_psu_code").first()), on="psu")
    frame = pl.concat([frame, extra.select(frame.columns)]).sort("_psu_code", "_dwelling", "_household")
    return _household_answers(frame, model, rng)


def _household_answers(frame: pl.DataFrame, model: dict, rng: np.random.Generator) -> pl.DataFrame:
    n = frame.height
    fies = model.get("fies_severity", {})  # a round without FIES items declares none
    yes = np.zeros((n, 0), dtype=bool)
    if fies:
        severity = rng.normal(model["fies_latent"]["mean"], model["fies_latent"]["sd"], n)
        item_severity = np.array(list(fies.values()), dtype=float)
        yes = rng.random((n, len(fies))) < 1 / (1 + np.exp(-(severity[:, None] - item_severity[None, :])))
    rooms = np.clip(rng.poisson(model["rooms_poisson"], n) + 1, 1, 9)
    columns = {
        "_selection": rng.integers(1, 100_000, n),
        "rooms": rooms, "bedrooms": np.minimum(rooms, rng.binomial(rooms, model["bedroom_share"]) + 0),
        "tenure": _pick_from(rng, model["tenure"], n),
        **{name: _bool_text(rng.random(n) < share) for name, share in model["shares"].items()},
        **{f"fies_{item}": _bool_text(yes[:, i]) for i, item in enumerate(fies)},
        "psu_jitter": np.exp(rng.normal(0, model["weight_jitter_sd"], frame["psu"].max() + 1))[frame["psu"].to_numpy()],
    }
    return frame.with_columns(pl.Series(k, v) for k, v in columns.items())


def persons(hh: pl.DataFrame, settings: GeneratorSettings, rng: np.random.Generator) -> pl.DataFrame:
    """Residents of the responding households: a head plus relatives, with age, sex, union and migration."""
    model = settings.population
    responding = np.flatnonzero(hh["responding"].to_numpy())
    size_p = np.array(model["household_size"], dtype=float)
    size = rng.choice(np.arange(1, size_p.size + 1), size=responding.size, p=size_p / size_p.sum())
    row = np.repeat(responding, size)
    k = np.arange(row.size) - np.repeat(np.cumsum(size) - size, size)
    n = row.size
    head = model["head_age"]
    head_age = np.clip(np.round(rng.normal(head["mean"], head["sd"], responding.size)), head["min"], head["max"])
    head_age_p = np.repeat(head_age.astype(np.int64), size)
    spouse = (k == 1) & (rng.random(n) < model["spouse"])
    others = _pick_from(rng, model["others"], n)
    relationship = np.where(k == 0, "head", np.where(spouse, "spouse", others)).astype(object)
    age = _ages(relationship, head_age_p, rng)
    head_female = np.repeat(rng.random(responding.size) < model["head_female"], size)
    female = np.where(spouse, ~head_female, np.where(k == 0, head_female, rng.random(n) < 0.5))
    born = model["born_here"]
    born_here = np.where(age < born["young_age"], born["young"], np.where(
        relationship == "child", born["child"], np.where(spouse, born["spouse"], born["other"])))
    migrant = (k == 0) | (rng.random(n) >= born_here)
    has_couple = np.repeat(np.bincount(np.repeat(np.arange(size.size), size), weights=spouse) > 0, size)
    frame = pl.DataFrame({
        "row": row, "_person": k + 1, "relationship": relationship, "age": age,
        "months": np.where(age == 0, rng.integers(0, 12, n), -1),
        "sex": np.where(female, "female", "male").astype(object), "migrant": _bool_text(migrant),
        "marital_status": _marital(relationship, age, has_couple, model, rng),
    })
    return frame.with_columns(pl.Series(k, v) for k, v in _education(age, migrant, model, rng).items())


def _ages(relationship: np.ndarray, head_age: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = relationship.size
    child = np.clip(head_age - 18 - np.floor(rng.gamma(2.0, 5.0, n)), 0, 60)
    by_role = {
        "head": head_age, "spouse": np.clip(head_age + np.round(rng.normal(-2, 5, n)), 16, 90), "child": child,
        "grandchild": np.clip(head_age - 40 - np.floor(rng.gamma(1.5, 4.0, n)), 0, 30),
        "parent_or_in_law": np.clip(head_age + 20 + np.round(rng.normal(5, 6, n)), 40, 98),
    }
    other = np.clip(np.round(rng.normal(28, 11, n)), 0, 90)
    age = other.copy()
    for role, values in by_role.items():
        mask = relationship == role
        age[mask] = values[mask]
    return age.astype(np.int64)


def _marital(relationship, age, has_couple, model: dict, rng) -> np.ndarray:
    n = age.size
    shares = model["marital"]
    couple = _pick_from(rng, shares["couple"], n)
    alone = _pick_from(rng, shares["head_alone"], n)
    other = _pick_from(rng, shares["other"], n)
    status = np.where(relationship == "spouse", couple,
                      np.where(relationship == "head", np.where(has_couple, couple, alone), other))
    return np.where(age >= model["marital_min_age"], status, None).astype(object)


def _education(age: np.ndarray, migrant: np.ndarray, model: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Highest level by age; children studying in Peru more often than adults (education module's universe)."""
    n = age.size
    adult = _pick_from(rng, model["adult_levels"], n)
    young = np.where(age < 6, np.where(rng.random(n) < 0.55, "preschool", "none"),
                     np.where(age < 12, "primary", np.where(rng.random(n) < 0.4, "primary", "secondary")))
    level = np.where(age < 18, young, adult).astype(object)
    peru_p = np.where(age < 18, 0.55, 0.04)
    country = np.where(level == "none", "none", np.where(rng.random(n) < peru_p, "peru", "venezuela")).astype(object)
    eligible = migrant & (age >= model["education_min_age"])
    return {
        "education_country": np.where(eligible, country, None).astype(object),
        "education_level": np.where(eligible, level, None).astype(object),
    }
