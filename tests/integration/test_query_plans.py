"""The statements the views run per event find their rows by index, never by reading a whole table.

A scan would make every event cost more as the store grows (SQLite 3.40 scans the
whole table for a row-value `IN`; the views' rows are therefore looked up through a
JSON array joined to the primary key there). PostgreSQL is asked with sequential
scans discouraged, so the plan shows whether an index *can* serve the statement.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, event

from delivery.application import DeliveryApplication
from delivery.settings import Database
from projections.service import ReadSide


def _plan(conn: Connection, statement: Any, params: dict[str, Any]) -> str:
    """The plan of `statement` as the views run it: the SQL and parameters sent to the driver, explained."""
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, sql: str, parameters: Any, _context: Any, _many: bool) -> None:
        sent.append((sql, parameters))

    event.listen(conn, "before_cursor_execute", capture)
    try:
        conn.execute(statement, params).all()
    finally:
        event.remove(conn, "before_cursor_execute", capture)
    sql, parameters = sent[-1]
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, parameters)
        return "\n".join(str(row[-1]) for row in rows)
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    rows = conn.exec_driver_sql("EXPLAIN " + sql, parameters)
    return "\n".join(str(row[0]) for row in rows)


def test_per_event_statements_use_indexes(database: Database) -> None:
    app = DeliveryApplication(database)
    views = ReadSide(app)
    try:
        pid = str(app.create_project(name="Plans", client="Northwind", actor="pm").project_id)
        tables = views.store.live
        keys = [[pid, "milestone", "M1"], [pid, "criterion", "C1"]]
        with views.store.engine.begin() as conn:
            statements = {
                "rows": (tables.select_rows, {"keys": json.dumps(keys) if tables.rows_by_json else
                                              [tuple(k) for k in keys]}),
                "headers": (tables.select_headers, {"ids": [pid]}),
                "next milestone": (tables.select_next_milestone, {"pid": pid}),
            }
            for name, (statement, params) in statements.items():
                plan = _plan(conn, statement, params)
                assert "SCAN view_rows" not in plan and "SCAN r" not in plan and "SCAN portfolio" not in plan, (
                    f"{name}: {plan}")
                assert "Seq Scan" not in plan, f"{name}: {plan}"
                assert "INDEX" in plan.upper(), f"{name}: {plan}"
    finally:
        views.close()
        app.close()
