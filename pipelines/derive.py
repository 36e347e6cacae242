"""Rules: the transforms of `variables.csv` that are not a one-to-one lookup, as polars expressions.

Generic rules take their codes and parameters from the round's spec (`codes:`, `parameters:`, `precedence/`), never
from Python: `any_yes`, `any_marked`, `count_rows`, `count_yes`, `scale:<parameter>`, `precedence`. A derivation that
is truly new logic is a named function, referenced as `derive:<name>`. Every rule takes a `RuleContext` and the
source columns named in the crosswalk row, in order, and returns one expression; `RULES` says how many inputs each
accepts, so a spec is checked at load (`pipelines.specs`). Household aggregates (`count_*`) are evaluated per
household over the rows of the person base module. See `docs/round-spec.md`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

# INEI writes a category as `<code>.<label>` in its CSV and as the bare code in SPSS/Stata and the consolidated
# file; a number such as `36.84` is not a category (a digit follows the dot).
_CODE_LABEL = r"^(\d+)\.(?:\D|$)"


def code_of(value: pl.Expr) -> pl.Expr:
    """INEI's bare code of a category value (`2.Mujer` -> `2`, `2` -> `2`); other text passes unchanged."""
    value = value.cast(pl.String)  # categorical columns (see pipelines.read) become text here
    return pl.coalesce(value.str.extract(_CODE_LABEL, 1), value)


@dataclass(frozen=True)
class RuleContext:
    """What a rule may know about its round: the yes/no/not-marked codes, the parameter it names, its table."""

    yes: str = "1"
    no: str = "2"
    not_marked: str = "0"
    parameter: dict[str, float] = field(default_factory=dict)  # the `:<parameter>` the transform names
    table: pl.DataFrame | None = None  # precedence: rank, value, var, op, codes

    def marked(self, option: pl.Expr) -> pl.Expr:
        code = code_of(option)
        return code.is_not_null() & code.ne(self.not_marked)


@dataclass(frozen=True)
class Rule:
    function: Callable[..., pl.Expr]
    accepts: Callable[[int], bool]
    aggregate: bool = False  # evaluated per household over the person base module's rows


def _exactly(n: int) -> Callable[[int], bool]:
    return lambda k: k == n


def _at_least(n: int) -> Callable[[int], bool]:
    return lambda k: k >= n


def any_yes(ctx: RuleContext, *items: pl.Expr) -> pl.Expr:
    """Yes/no items: True if any is yes, False if any is no and none yes, null if none was asked."""
    codes = [code_of(item) for item in items]
    return (
        pl.when(pl.any_horizontal(c.eq(ctx.yes) for c in codes)).then(True)
        .when(pl.any_horizontal(c.eq(ctx.no) for c in codes)).then(False)
    )


def any_marked(ctx: RuleContext, *options: pl.Expr) -> pl.Expr:
    """Options of one multiple-response question: True if any is marked, False if all were left unmarked.

    Null when none of the options was asked (all blank).
    """
    codes = [code_of(option) for option in options]
    return (
        pl.when(pl.any_horizontal(ctx.marked(c) for c in codes)).then(True)
        .when(pl.any_horizontal(c.eq(ctx.not_marked) for c in codes)).then(False)
    )


def count_rows(ctx: RuleContext, column: pl.Expr) -> pl.Expr:
    """Rows per household (module 200 lists usual residents only, so: residents)."""
    return column.len().cast(pl.Int16)


def count_yes(ctx: RuleContext, item: pl.Expr) -> pl.Expr:
    """Rows per household whose item is yes (e.g. residents who migrated from Venezuela)."""
    return code_of(item).eq(ctx.yes).sum().cast(pl.Int16)


def _amount(*parts: pl.Expr) -> pl.Expr:
    """Sum of amounts (e.g. cash plus in kind); null only if all are blank."""
    values = [part.cast(pl.Float64, strict=False) for part in parts]
    return pl.when(pl.any_horizontal(v.is_not_null() for v in values)).then(pl.sum_horizontal(values))


def scale(ctx: RuleContext, code: pl.Expr, *amounts: pl.Expr) -> pl.Expr:
    """Amounts summed, times the factor the round's parameter gives the code (e.g. pay per period -> per month).

    A factor of 0 (unpaid) gives 0 even without an amount; a code without a factor, or no code, gives null.
    """
    codes = list(ctx.parameter)
    factor = code_of(code).replace_strict(codes, [ctx.parameter[c] for c in codes], default=None,
                                          return_dtype=pl.Float64)
    return pl.when(factor == 0).then(pl.lit(0.0)).otherwise(_amount(*amounts) * factor)


def _precedence_condition(ctx: RuleContext, var: str, op: str, codes: str) -> pl.Expr:
    code = code_of(pl.col(var))
    listed = [c for c in codes.split(";") if c]
    if op == "in":
        return code.is_in(listed).fill_null(False)
    if op == "not_in":
        return (code.is_not_null() & ~code.is_in(listed)).fill_null(False)
    if op == "marked":
        return ctx.marked(pl.col(var)).fill_null(False)
    return code.is_not_null()  # answered


def precedence(ctx: RuleContext, *inputs: pl.Expr) -> pl.Expr:
    """The value of the first rank of the round's precedence table whose conditions all hold; null if none does.

    The table (`precedence/<harmonised_var>.csv`) names its own columns, which are among `inputs`.
    """
    expr = pl.lit(None, pl.String)
    for _rank, rules in reversed(list(ctx.table.sort("rank").group_by("rank", maintain_order=True))):
        holds = pl.all_horizontal(_precedence_condition(ctx, r["var"], r["op"], r["codes"])
                                  for r in rules.iter_rows(named=True))
        expr = pl.when(holds).then(pl.lit(rules["value"][0])).otherwise(expr)
    return expr


def age_years(ctx: RuleContext, years: pl.Expr, months: pl.Expr) -> pl.Expr:
    """Completed years; INEI leaves years blank for infants under one year and fills months instead: age 0."""
    return (
        pl.when(years.is_not_null()).then(years.cast(pl.Int16))
        .when(months.is_not_null()).then(pl.lit(0, pl.Int16))
    )


def net_profit(ctx: RuleContext, cash: pl.Expr, in_kind: pl.Expr, unknown: pl.Expr) -> pl.Expr:
    """Last month's net profit (cash plus in kind) of employers and the self-employed; null when the respondent
    marked "no sabe / no tienen ganancia", since that answer mixes zero and unknown."""
    return pl.when(ctx.marked(unknown)).then(pl.lit(None, pl.Float64)).otherwise(_amount(cash, in_kind))


def labour_income(ctx: RuleContext, pay_period: pl.Expr, pay_cash: pl.Expr, pay_kind: pl.Expr,
                  profit_cash: pl.Expr, profit_kind: pl.Expr, profit_unknown: pl.Expr,
                  second_cash: pl.Expr, second_kind: pl.Expr) -> pl.Expr:
    """Monthly income of all jobs: the main job (employees' pay scaled by the transform's parameter, else net
    profit as `net_profit`) plus last month's income of secondary jobs (0 when none or unpaid)."""
    main = pl.coalesce(scale(ctx, pay_period, pay_cash, pay_kind), net_profit(ctx, profit_cash, profit_kind,
                                                                               profit_unknown))
    return main + _amount(second_cash, second_kind).fill_null(0.0)


def knows_victim_of_partner(ctx: RuleContext, *pairs: pl.Expr) -> pl.Expr:
    """(knows a victim yes/no, aggressor was the spouse/partner marked) for each kind of violence, in pairs.

    True if for some kind the respondent knows a victim and names the partner as aggressor; False if every kind
    was answered and none qualifies (knowing no victim is False, not null); null if the items were not asked.
    """
    knows, partner = pairs[0::2], pairs[1::2]
    hits = [code_of(k).eq(ctx.yes) & ctx.marked(p) for k, p in zip(knows, partner)]
    return (
        pl.when(pl.any_horizontal(hits)).then(True)
        .when(pl.all_horizontal(code_of(k).is_in((ctx.yes, ctx.no)) for k in knows)).then(False)
    )


def sought_institution(ctx: RuleContext, asked_for_help: pl.Expr, *institutions: pl.Expr) -> pl.Expr:
    """Help sought from an institution: False when no help was sought at all, else any institution marked."""
    asked = code_of(asked_for_help)
    return pl.when(asked.eq(ctx.no)).then(False).when(asked.eq(ctx.yes)).then(any_marked(ctx, *institutions))


# Transforms harmonise applies itself (a lookup or a cast), with the number of inputs each takes.
TRANSFORMS: dict[str, Callable[[int], bool]] = {"copy": _exactly(1), "recode": _exactly(1), "not_asked": _exactly(0)}

RULES: dict[str, Rule] = {
    "any_yes": Rule(any_yes, _at_least(1)),
    "any_marked": Rule(any_marked, _at_least(1)),
    "count_rows": Rule(count_rows, _exactly(1), aggregate=True),
    "count_yes": Rule(count_yes, _exactly(1), aggregate=True),
    "scale": Rule(scale, _at_least(2)),
    "precedence": Rule(precedence, _at_least(1)),
    "derive:age_years": Rule(age_years, _exactly(2)),
    "derive:net_profit": Rule(net_profit, _exactly(3)),
    "derive:labour_income": Rule(labour_income, _exactly(8)),
    "derive:knows_victim_of_partner": Rule(knows_victim_of_partner, lambda k: k >= 2 and k % 2 == 0),
    "derive:sought_institution": Rule(sought_institution, _at_least(2)),
}


def rule_name(transform: str) -> str:
    """The rule a transform names: `scale:pay_period_months` -> `scale`,
    `derive:labour_income:pay_period_months` -> `derive:labour_income`, `any_yes` -> `any_yes`."""
    if transform.startswith("derive:"):
        return ":".join(transform.split(":")[:2])
    return transform.split(":", 1)[0]


def rule_argument(transform: str) -> str | None:
    """The parameter a transform names after its rule (`scale:<parameter>`, `derive:<name>:<parameter>`)."""
    rest = transform[len(rule_name(transform)):]
    return rest[1:] if rest.startswith(":") else None
