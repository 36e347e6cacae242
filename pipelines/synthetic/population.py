"""Harmonised-level synthetic households and persons: plausible joint distributions, no INEI codes yet.

Values are the common schema's categories (`"rented"`, `"true"`), so that `inei.py` can invert the crosswalk.
The parameters below are the model; they are loosely calibrated to the real II ENPOVE 2022 modules 100/200/500
(household sizes, relationships, migrant share, tenure) and are documented in `docs`-style comments, not estimated.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.synthetic.catalogue import Catalogue

HH_SIZE_P = np.array([0.135, 0.21, 0.257, 0.194, 0.103, 0.05, 0.025, 0.013, 0.008, 0.005])  # sizes 1..10, mean ~3.3
SECOND_HOUSEHOLD_P = 0.015  # a second household in the same dwelling (real: 43 of 3,769)
NONRESPONSE_RATE = 0.008  # non-responding dwellings listed in module 100 (real: 30 of 3,769)
PSU_SIZE = 5  # INEI's segment of five dwellings
# Relationship of members 3+ (member 2 is the spouse with SPOUSE_P): child, grandchild, sibling, other relative,
# child-in-law, parent, other non-relative, domestic worker, boarder.
OTHERS = ("child", "grandchild", "sibling", "other_relative", "child_in_law", "parent_or_in_law",
          "other_non_relative", "domestic_worker", "boarder")
OTHERS_P = np.array([0.58, 0.05, 0.07, 0.11, 0.03, 0.03, 0.123, 0.004, 0.003])
SPOUSE_P = 0.7
TENURE = ("rented", "owned", "ceded", "other")
TENURE_P = np.array([0.915, 0.042, 0.039, 0.004])
FIES = ("worried", "healthy", "fewfood", "skipped", "ateless", "runout", "hungry", "whlday")
FIES_SEVERITY = np.array([-1.3, -0.9, -0.7, 0.3, -0.3, 0.2, 1.1, 1.9])  # Rasch item severities (logits)
FIES_MEAN, FIES_SD = -0.6, 1.6  # household latent severity
ADULT_LEVELS = ("none", "primary", "secondary", "technical", "university", "postgraduate")
ADULT_LEVELS_P = np.array([0.01, 0.08, 0.45, 0.17, 0.26, 0.03])
MARITAL = ("cohabiting", "married", "widowed", "divorced", "separated", "single")
MARITAL_COUPLE_P = np.array([0.68, 0.3, 0.0, 0.0, 0.0, 0.02])
MARITAL_HEAD_ALONE_P = np.array([0.0, 0.0, 0.03, 0.06, 0.36, 0.55])
MARITAL_OTHER_P = np.array([0.25, 0.06, 0.01, 0.01, 0.07, 0.60])


def _pick(rng: np.random.Generator, choices: tuple[str, ...], p: np.ndarray, n: int) -> np.ndarray:
    return np.asarray(choices, dtype=object)[rng.choice(len(choices), size=n, p=p / p.sum())]


def _bool_text(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, "true", "false").astype(object)


def _allocate(shares: np.ndarray, n: int) -> np.ndarray:
    """Households per stratum, largest remainder, every stratum at least one PSU."""
    raw = shares / shares.sum() * n
    counts = np.maximum(np.floor(raw).astype(np.int64), min(PSU_SIZE, n // len(shares) or 1))
    short = n - counts.sum()
    order = np.argsort(-(raw - np.floor(raw)), kind="stable")
    for i in range(abs(short)):  # at most one pass over the strata
        counts[order[i % len(order)]] += 1 if short > 0 else -1
    return counts


def households(n: int, catalogue: Catalogue, rng: np.random.Generator) -> pl.DataFrame:
    """`n` responding households plus a few non-responding dwellings, with their design and harmonised answers."""
    strata = catalogue.strata
    counts = _allocate(strata["share"].to_numpy(), n)
    stratum = np.repeat(np.arange(strata.height), counts)
    slot = np.concatenate([np.arange(c) for c in counts])  # position within stratum
    psu_local = slot // PSU_SIZE
    psu = np.cumsum(np.r_[1, (np.diff(stratum) != 0) | (np.diff(psu_local) != 0)]) - 1
    n_psu = psu[-1] + 1
    conglomerado = np.sort(rng.choice(np.arange(1, 100_000), size=n_psu, replace=False))
    j = slot % PSU_SIZE
    second = (rng.random(n) < SECOND_HOUSEHOLD_P) & (j >= 1)
    second[1:] &= ~second[:-1]
    dwelling = np.cumsum(~second) - 1
    dwelling_j = j - second  # the first household's slot for a second household
    vivienda = 1 + dwelling_j * 6 + rng.integers(0, 6, n_psu)[psu]
    thogar = np.bincount(dwelling)[dwelling]
    frame = pl.DataFrame({
        "stratum": stratum, "psu": psu, "CONGLOMERADO": conglomerado[psu], "VIVIENDA": vivienda,
        "NHOGAR": 1 + second.astype(np.int64), "THOGAR": thogar, "responding": np.ones(n, bool),
    })
    m = max(1, round(n * NONRESPONSE_RATE))
    extra_psu = np.sort(rng.choice(n_psu, size=m, replace=n_psu < m))
    extra = pl.DataFrame({
        "psu": extra_psu, "VIVIENDA": 31 + np.arange(m) - np.searchsorted(extra_psu, extra_psu),
        "NHOGAR": np.ones(m, np.int64), "THOGAR": np.ones(m, np.int64), "responding": np.zeros(m, bool),
    }).join(frame.group_by("psu").agg(pl.col("stratum", "CONGLOMERADO").first()), on="psu")
    frame = pl.concat([frame, extra.select(frame.columns)]).sort("CONGLOMERADO", "VIVIENDA", "NHOGAR")
    return _household_answers(frame, catalogue, rng)


def _household_answers(frame: pl.DataFrame, catalogue: Catalogue, rng: np.random.Generator) -> pl.DataFrame:
    n = frame.height
    severity = rng.normal(FIES_MEAN, FIES_SD, n)
    yes = rng.random((n, len(FIES))) < 1 / (1 + np.exp(-(severity[:, None] - FIES_SEVERITY[None, :])))
    rooms = np.clip(rng.poisson(1.6, n) + 1, 1, 9)
    columns = {
        "NSELV": rng.integers(1, 100_000, n),
        "rooms": rooms, "bedrooms": np.minimum(rooms, rng.binomial(rooms, 0.8) + 0),
        "tenure": _pick(rng, TENURE, TENURE_P, n),
        "water_network_inside": _bool_text(rng.random(n) < 0.88),
        "sanitation_network_inside": _bool_text(rng.random(n) < 0.86),
        "electricity": _bool_text(rng.random(n) < 0.985),
        "internet": _bool_text(rng.random(n) < 0.55),
        **{f"fies_{item}": _bool_text(yes[:, i]) for i, item in enumerate(FIES)},
        "psu_jitter": np.exp(rng.normal(0, 0.15, frame["psu"].max() + 1))[frame["psu"].to_numpy()],
    }
    return frame.with_columns(pl.Series(k, v) for k, v in columns.items())


def persons(hh: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Residents of the responding households: a head plus relatives, with age, sex, union and migration."""
    responding = np.flatnonzero(hh["responding"].to_numpy())
    size = rng.choice(np.arange(1, 11), size=responding.size, p=HH_SIZE_P / HH_SIZE_P.sum())
    row = np.repeat(responding, size)
    k = np.arange(row.size) - np.repeat(np.cumsum(size) - size, size)
    n = row.size
    head_age = np.clip(np.round(rng.normal(35, 10, responding.size)), 18, 85).astype(np.int64)
    head_age_p = np.repeat(head_age, size)
    spouse = (k == 1) & (rng.random(n) < SPOUSE_P)
    relationship = np.where(k == 0, "head", np.where(spouse, "spouse", _pick(rng, OTHERS, OTHERS_P, n))).astype(object)
    age = _ages(relationship, head_age_p, rng)
    head_female = np.repeat(rng.random(responding.size) < 0.52, size)
    female = np.where(spouse, ~head_female, np.where(k == 0, head_female, rng.random(n) < 0.5))
    born_here = np.where(age < 5, 0.3, np.where(relationship == "child", 0.05, np.where(spouse, 0.08, 0.02)))
    migrant = (k == 0) | (rng.random(n) >= born_here)
    has_couple = np.repeat(np.bincount(np.repeat(np.arange(size.size), size), weights=spouse) > 0, size)
    frame = pl.DataFrame({
        "row": row, "P200_N": k + 1, "relationship": relationship, "age": age,
        "months": np.where(age == 0, rng.integers(0, 12, n), -1),
        "sex": np.where(female, "female", "male").astype(object), "migrant": _bool_text(migrant),
        "marital_status": _marital(relationship, age, has_couple, rng),
    })
    return frame.with_columns(pl.Series(k, v) for k, v in _education(age, migrant, rng).items())


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


def _marital(relationship, age, has_couple, rng) -> np.ndarray:
    n = age.size
    couple = _pick(rng, MARITAL, MARITAL_COUPLE_P, n)
    alone = _pick(rng, MARITAL, MARITAL_HEAD_ALONE_P, n)
    other = _pick(rng, MARITAL, MARITAL_OTHER_P, n)
    status = np.where(relationship == "spouse", couple,
                      np.where(relationship == "head", np.where(has_couple, couple, alone), other))
    return np.where(age >= 12, status, None).astype(object)  # asked of persons aged 12 and over


def _education(age: np.ndarray, migrant: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Highest level by age; children studying in Peru more often than adults. Module 500 only (migrants 3+)."""
    n = age.size
    adult = _pick(rng, ADULT_LEVELS, ADULT_LEVELS_P, n)
    young = np.where(age < 6, np.where(rng.random(n) < 0.55, "preschool", "none"),
                     np.where(age < 12, "primary", np.where(rng.random(n) < 0.4, "primary", "secondary")))
    level = np.where(age < 18, young, adult).astype(object)
    peru_p = np.where(age < 18, 0.55, 0.04)
    country = np.where(level == "none", "none", np.where(rng.random(n) < peru_p, "peru", "venezuela")).astype(object)
    eligible = migrant & (age >= 3)
    return {
        "education_country": np.where(eligible, country, None).astype(object),
        "education_level": np.where(eligible, level, None).astype(object),
    }
