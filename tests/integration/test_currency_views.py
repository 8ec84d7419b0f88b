"""The project's currency in the stored views and their CSVs, on both stores."""

from __future__ import annotations

import csv
import io

from delivery import clock
from delivery.application import DeliveryApplication
from delivery.settings import Database
from projections import feeds
from projections.service import ReadSide


def test_the_stored_views_and_csvs_carry_each_projects_currency(database: Database) -> None:
    app = DeliveryApplication(database)
    try:
        yen = str(app.create_project(name="Tokyo site", client="Acme", currency="JPY", actor="pm").value)
        plain = str(app.create_project(name="Shanghai app", client="Acme", actor="pm").value)
        app.set_project_currency(plain, currency="HKD", actor="pm")
        app.set_project_currency(plain, currency="CNY", actor="pm")
        with ReadSide(app) as reads:
            reads.catch_up()
            rows = {r.project_id: r for r in reads.portfolio_all(now=clock.now())}
            assert (rows[yen].currency, rows[plain].currency) == ("JPY", "CNY")
            assert rows[yen].health_reason_message is not None
            assert rows[yen].health_reason_message.code == f"health_{rows[yen].health_reason}"
            assert reads.summary(yen).currency == "JPY"
            out = io.StringIO()
            feeds.write_csv(reads, "portfolio", None, clock.now(), out)
            table = list(csv.DictReader(io.StringIO(out.getvalue())))
            assert {r["project_id"]: r["currency"] for r in table} == {yen: "JPY", plain: "CNY"}
            assert "health_reason_message" not in table[0]  # cells are values; the reason is there by code
    finally:
        app.close()
