"""Derivations the crosswalk cannot express as a lookup, referenced from `variables.csv` as `derive:<name>`.

Each derivation takes the source columns named in the crosswalk row (in order) as polars expressions and returns one
expression. Household aggregates (`count_*`) are evaluated per household over the person rows of their module.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

# INEI writes a category as `<code>.<label>` in its CSV and as the bare code in SPSS/Stata and the consolidated
# file; a number such as `36.84` is not a category (a digit follows the dot).
_CODE_LABEL = r"^(\d+)\.(?:\D|$)"


def code_of(value: pl.Expr) -> pl.Expr:
    """INEI's bare code of a category value (`2.Mujer` -> `2`, `2` -> `2`); other text passes unchanged."""
    value = value.cast(pl.String)  # categorical columns (see pipelines.read) become text here
    return pl.coalesce(value.str.extract(_CODE_LABEL, 1), value)


def age_years(years: pl.Expr, months: pl.Expr) -> pl.Expr:
    """Completed years; INEI leaves years blank for infants under one year and fills months instead: age 0."""
    return (
        pl.when(years.is_not_null()).then(years.cast(pl.Int16))
        .when(months.is_not_null()).then(pl.lit(0, pl.Int16))
    )


def count_residents(order_number: pl.Expr) -> pl.Expr:
    """Usual residents: every person row of the household (module 200 lists residents only)."""
    return order_number.count().cast(pl.Int16)


def count_migrants(migrated: pl.Expr) -> pl.Expr:
    """Residents who migrated from Venezuela (code 1 = Sí)."""
    return code_of(migrated).eq("1").sum().cast(pl.Int16)


# Multiple-response items: INEI writes `0` when an option is not marked and the option number (`3` or
# `3.Seguro Integral de Salud – SIS?`) when it is; a blank means the question was not asked.
_NOT_MARKED = "0"
_YES, _NO = "1", "2"


def any_yes(*items: pl.Expr) -> pl.Expr:
    """Sí/No items (1 = Sí, 2 = No): True if any is Sí, False if any is No and none Sí, null if none was asked."""
    codes = [code_of(item) for item in items]
    return (
        pl.when(pl.any_horizontal(c.eq(_YES) for c in codes)).then(True)
        .when(pl.any_horizontal(c.eq(_NO) for c in codes)).then(False)
    )


def any_marked(*options: pl.Expr) -> pl.Expr:
    """Options of one multiple-response question: True if any is marked, False if all were left unmarked.

    Null when none of the options was asked (all blank).
    """
    codes = [code_of(option) for option in options]
    return (
        pl.when(pl.any_horizontal(c.is_not_null() & c.ne(_NOT_MARKED) for c in codes)).then(True)
        .when(pl.any_horizontal(c.eq(_NOT_MARKED) for c in codes)).then(False)
    )


# Codes of ENPOVE 2022 P307 (permit held) and P308 (asylum claim) that decide `migratory_status`; the permit
# itself is recoded one to one in values.csv. Precedence: recognised refugee, then any valid permit, then a
# pending asylum claim, then irregular (no permit or an expired PTP).
_REFUGEE_PERMIT, _REFUGEE_CLAIM, _PENDING_CLAIM = "7", "3", "1"
_IRREGULAR_PERMITS = ("10", "15")


def migratory_status(permit: pl.Expr, asylum_claim: pl.Expr) -> pl.Expr:
    """Regular / asylum_seeker / refugee / irregular from the permit held and the asylum claim (see README)."""
    permit, claim = code_of(permit), code_of(asylum_claim)
    return (
        pl.when(permit.eq(_REFUGEE_PERMIT) | claim.eq(_REFUGEE_CLAIM)).then(pl.lit("refugee"))
        .when(permit.is_not_null() & ~permit.is_in(_IRREGULAR_PERMITS)).then(pl.lit("regular"))
        .when(claim.eq(_PENDING_CLAIM)).then(pl.lit("asylum_seeker"))
        .when(permit.is_in(_IRREGULAR_PERMITS)).then(pl.lit("irregular"))
    )


# Employees report pay for the last pay period (P621: 1 daily, 2 weekly, 3 fortnightly, 4 monthly, 5 unpaid).
# INEI's dictionary gives no conversion; ours: a day's pay x 26 working days (six-day week x 52/12), a week's pay
# x 52/12, a fortnight's x 2 (the Peruvian quincena is half a month), a month's x 1, unpaid = 0.
MONTHS_PER_PAY_PERIOD = {"1": 26.0, "2": 52.0 / 12.0, "3": 2.0, "4": 1.0, "5": 0.0}


def _amount(*parts: pl.Expr) -> pl.Expr:
    """Cash plus in-kind amount; null only if both are blank."""
    values = [part.cast(pl.Float64, strict=False) for part in parts]
    return pl.when(pl.any_horizontal(v.is_not_null() for v in values)).then(pl.sum_horizontal(values))


def monthly_income_main_job(
    pay_period: pl.Expr, pay_cash: pl.Expr, pay_kind: pl.Expr,
    profit_cash: pl.Expr, profit_kind: pl.Expr, profit_unknown: pl.Expr,
) -> pl.Expr:
    """Monthly income of the main job: employees' pay times `MONTHS_PER_PAY_PERIOD`, else last month's net profit.

    Employers and the self-employed report net profit of the last month (already monthly); when they mark
    "no sabe / no tienen ganancia" the amount is unknown (null), since that answer mixes zero and unknown.
    """
    period = code_of(pay_period)
    factor = period.replace_strict(
        list(MONTHS_PER_PAY_PERIOD), list(MONTHS_PER_PAY_PERIOD.values()), default=None, return_dtype=pl.Float64
    )
    profit_unknown_marked = code_of(profit_unknown).is_not_null() & code_of(profit_unknown).ne(_NOT_MARKED)
    return (
        pl.when(period.eq("5")).then(pl.lit(0.0))
        .when(period.is_not_null()).then(_amount(pay_cash, pay_kind) * factor)
        .when(profit_unknown_marked).then(pl.lit(None, pl.Float64))
        .otherwise(_amount(profit_cash, profit_kind))
    )


def monthly_labour_income(
    pay_period: pl.Expr, pay_cash: pl.Expr, pay_kind: pl.Expr,
    profit_cash: pl.Expr, profit_kind: pl.Expr, profit_unknown: pl.Expr,
    second_cash: pl.Expr, second_kind: pl.Expr,
) -> pl.Expr:
    """Main job (as `monthly_income_main_job`) plus last month's income of secondary jobs (0 when none or unpaid)."""
    main = monthly_income_main_job(pay_period, pay_cash, pay_kind, profit_cash, profit_kind, profit_unknown)
    return main + _amount(second_cash, second_kind).fill_null(0.0)


def knows_victim_of_partner(*pairs: pl.Expr) -> pl.Expr:
    """(knows a victim Sí/No, aggressor was the spouse/partner marked) for each kind of violence, in pairs.

    True if for some kind the respondent knows a victim and names the partner as aggressor; False if every kind
    was answered and none qualifies (knowing no victim is False, not null); null if the items were not asked.
    """
    knows, partner = pairs[0::2], pairs[1::2]
    hits = [code_of(k).eq(_YES) & code_of(p).is_not_null() & code_of(p).ne(_NOT_MARKED) for k, p in zip(knows, partner)]
    return (
        pl.when(pl.any_horizontal(hits)).then(True)
        .when(pl.all_horizontal(code_of(k).is_in((_YES, _NO)) for k in knows)).then(False)
    )


def sought_institution(asked_for_help: pl.Expr, *institutions: pl.Expr) -> pl.Expr:
    """Help sought from an institution: False when no help was sought at all, else any institution marked."""
    asked = code_of(asked_for_help)
    return pl.when(asked.eq(_NO)).then(False).when(asked.eq(_YES)).then(any_marked(*institutions))


DERIVATIONS: dict[str, Callable[..., pl.Expr]] = {
    "age_years": age_years,
    "count_residents": count_residents,
    "count_migrants": count_migrants,
    "any_yes": any_yes,
    "any_marked": any_marked,
    "migratory_status": migratory_status,
    "monthly_income_main_job": monthly_income_main_job,
    "monthly_labour_income": monthly_labour_income,
    "knows_victim_of_partner": knows_victim_of_partner,
    "sought_institution": sought_institution,
}
AGGREGATES = frozenset({"count_residents", "count_migrants"})
