"""Derive: each rule of `variables.csv` that is not a lookup, on a few hand-written rows in INEI's codes.

The rules are checked through whole rounds too (`tests/rounds/`); here each one's edge cases are written out: what
gives True, False, 0 and null (a question not asked is null, never "no").
"""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.derive import (
    RULES,
    TRANSFORMS,
    RuleContext,
    age_years,
    any_marked,
    any_yes,
    code_of,
    count_rows,
    count_yes,
    knows_victim_of_partner,
    labour_income,
    net_profit,
    precedence,
    rule_argument,
    rule_name,
    scale,
    sought_institution,
)

INEI = RuleContext(yes="1", no="2", not_marked="0")
PAY_PERIOD = {"1": 26.0, "2": 52 / 12, "4": 1.0, "5": 0.0}  # daily, weekly, monthly, unpaid


def derived(rows: dict, expr: pl.Expr) -> list:
    return pl.DataFrame(rows, schema=dict.fromkeys(rows, pl.String)).select(expr.alias("out"))["out"].to_list()


def test_code_of_strips_inei_labels_but_not_numbers():
    values = ["2.Mujer", "2", "10.Otro", "36.84", "1.", None]
    assert derived({"v": values}, code_of(pl.col("v"))) == ["2", "2", "10", "36.84", "1", None]
    categorical = pl.DataFrame({"v": ["1.Sí"]}, schema={"v": pl.Categorical})
    assert categorical.select(code_of(pl.col("v")))["v"].to_list() == ["1"]


def test_any_yes_is_true_on_a_yes_false_on_only_noes_null_when_not_asked():
    rows = {"a": ["1", "2", "2", None, "2.No"], "b": ["2", "1.Sí", "2", None, None]}
    assert derived(rows, any_yes(INEI, pl.col("a"), pl.col("b"))) == [True, True, False, None, False]


def test_any_marked_is_false_only_when_options_were_left_unmarked():
    rows = {"a": ["0", "3", None, "0"], "b": ["0", "0", None, "5.Otro"]}
    assert derived(rows, any_marked(INEI, pl.col("a"), pl.col("b"))) == [False, True, None, True]


def test_counts_are_per_household():
    persons = pl.DataFrame({"hh": ["a", "a", "a", "b"], "P208": ["1", "2.No", "1.Sí", "2"]})
    counts = persons.group_by("hh", maintain_order=True).agg(
        count_rows(INEI, pl.col("P208")).alias("size"), count_yes(INEI, pl.col("P208")).alias("migrants"))
    assert counts.rows() == [("a", 3, 2), ("b", 1, 0)]
    assert counts.schema["size"] == counts.schema["migrants"] == pl.Int16


def test_scale_multiplies_the_summed_amounts_by_the_period_factor():
    ctx = RuleContext(parameter=PAY_PERIOD)
    rows = {"period": ["1", "4.Mensual", "5", "3", None, "2"],
            "cash": ["10", "900", None, "100", "100", None],
            "kind": [None, "100", None, None, None, None]}
    got = derived(rows, scale(ctx, pl.col("period"), pl.col("cash"), pl.col("kind")))
    # daily x 26; monthly cash + in kind; unpaid is 0 without an amount; a period with no factor, or none, is null;
    # a factor without any amount is null
    assert got == [260.0, 1000.0, 0.0, None, None, None]


def test_precedence_takes_the_first_rank_whose_conditions_all_hold():
    table = pl.DataFrame({
        "rank": [2, 1, 3, 3],
        "value": ["asylum_seeker", "refugee", "irregular", "irregular"],
        "var": ["P308", "P307", "P307", "P308"],
        "op": ["in", "in", "not_in", "answered"],
        "codes": ["1;2", "7", "7;8", ""],
    })
    ctx = RuleContext(table=table)
    rows = {"P307": ["7.Refugiado", "3", "3", None, "3", "8"], "P308": ["1", "1", None, None, "5", "5"]}
    got = derived(rows, precedence(ctx, pl.col("P307"), pl.col("P308")))
    assert got == ["refugee", "asylum_seeker", None, None, "irregular", None]


def test_precedence_marked_holds_for_a_marked_option():
    table = pl.DataFrame({"rank": [1], "value": ["yes"], "var": ["P1"], "op": ["marked"], "codes": [""]})
    got = derived({"P1": ["0", "4", None]}, precedence(RuleContext(table=table), pl.col("P1")))
    assert got == [None, "yes", None]


def test_age_years_gives_infants_age_zero():
    rows = {"years": ["34", None, None], "months": [None, "8", None]}
    assert derived(rows, age_years(INEI, pl.col("years"), pl.col("months"))) == [34, 0, None]


def test_net_profit_is_null_when_the_respondent_marked_no_sabe():
    rows = {"cash": ["500", "500", None], "kind": ["50", None, None], "unknown": ["0", "1", "0"]}
    assert derived(rows, net_profit(INEI, pl.col("cash"), pl.col("kind"), pl.col("unknown"))) == [550.0, None, None]


def test_labour_income_adds_secondary_jobs_to_pay_or_profit():
    ctx = RuleContext(parameter=PAY_PERIOD)
    rows = {"period": ["4", None, "5", None], "pay": ["1000", None, None, None], "pay_kind": [None] * 4,
            "profit": [None, "400", None, None], "profit_kind": [None] * 4, "unknown": ["0", "0", "0", "0"],
            "second": ["200", None, None, "300"], "second_kind": [None, None, None, None]}
    columns = [pl.col(c) for c in rows]
    assert derived(rows, labour_income(ctx, *columns)) == [1200.0, 400.0, 0.0, None]


def test_knows_victim_of_partner_needs_a_victim_and_the_partner_marked():
    rows = {"knows_a": ["1", "1", "2", None], "partner_a": ["1", "0", "0", None],
            "knows_b": ["2", "2", "2", None], "partner_b": ["0", "0", "0", None]}
    got = derived(rows, knows_victim_of_partner(INEI, *(pl.col(c) for c in rows)))
    assert got == [True, False, False, None]


def test_sought_institution_is_false_when_no_help_was_sought():
    rows = {"asked": ["2", "1", "1", None], "police": ["0", "1", "0", None], "court": ["0", "0", "0", None]}
    assert derived(rows, sought_institution(INEI, *(pl.col(c) for c in rows))) == [False, True, False, None]


@pytest.mark.parametrize(("transform", "name", "argument"), [
    ("any_yes", "any_yes", None),
    ("scale:pay_period_months", "scale", "pay_period_months"),
    ("derive:age_years", "derive:age_years", None),
    ("derive:labour_income:pay_period_months", "derive:labour_income", "pay_period_months"),
])
def test_a_transform_names_its_rule_and_parameter(transform, name, argument):
    assert (rule_name(transform), rule_argument(transform)) == (name, argument)


def test_each_rule_says_how_many_source_variables_it_takes():
    assert TRANSFORMS["copy"](1) and not TRANSFORMS["copy"](2) and TRANSFORMS["not_asked"](0)
    assert RULES["derive:age_years"].accepts(2) and not RULES["derive:age_years"].accepts(1)
    assert RULES["derive:knows_victim_of_partner"].accepts(4) and not RULES["derive:knows_victim_of_partner"].accepts(3)
    assert RULES["scale"].accepts(3) and not RULES["scale"].accepts(1)
    assert {name for name, rule in RULES.items() if rule.aggregate} == {"count_rows", "count_yes"}
