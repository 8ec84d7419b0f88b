"""A project's currency: CNY unless chosen, an ISO 4217 code, changed by the pm with an event."""

from __future__ import annotations

import pytest

from delivery.currency import CURRENCIES, DEFAULT_CURRENCY, currency
from delivery.errors import InvalidInput
from delivery.project import Project
from projections import views
from projections.reducers import fold
from tests.unit.domain_helpers import Given, invalid, replay, when


def test_a_project_is_in_yuan_until_the_pm_says_otherwise() -> None:
    project = Given().project()
    assert project.currency == DEFAULT_CURRENCY == "CNY"


def test_setting_the_currency_records_it_with_the_one_it_replaced() -> None:
    given = Given()
    project = given.project()
    [event] = when(project, Project.set_currency, currency=" usd ")
    assert isinstance(event, Project.ProjectCurrencySet)
    assert (event.currency, event.previous) == ("USD", "CNY")
    assert replay([*given.events, event]).currency == "USD"


@pytest.mark.parametrize("value", ["XYZ", "US", "usd1", "", None, 156, "人民币"])
def test_an_unknown_code_is_refused_naming_the_field(value: object) -> None:
    error = invalid(Given().project(), Project.set_currency, "currency", currency=value)
    assert error.details["message_code"] == "rule_currency"
    assert "ISO 4217" in error.details["rule"]


def test_the_same_currency_again_is_a_conflict() -> None:
    invalid(Given().project(), Project.set_currency, "currency", conflicting=True, currency="CNY")


def test_the_known_list_is_iso_4217_codes() -> None:
    assert {"CNY", "USD", "EUR", "JPY", "HKD", "GBP"} <= CURRENCIES
    assert all(len(c) == 3 and c.isascii() and c.isupper() for c in CURRENCIES)
    assert currency("currency", "eur") == "EUR"
    with pytest.raises(InvalidInput):
        currency("currency", "XAU")  # gold is not a project's budget currency


def test_the_views_show_the_currency_and_old_histories_read_cny() -> None:
    given = Given()
    project = given.project()
    assert views.summary_view(fold(given.events)).currency == "CNY"
    events = [*given.events, *when(project, Project.set_currency, currency="EUR")]
    state = fold(events)
    assert views.summary_view(state).currency == "EUR"
    assert views.change_log("p", state).currency == "EUR"
    assert views.drift_summary(state).currency == "EUR"
    assert views.portfolio_columns(state)["currency"] == "EUR"
