"""Schemathesis hooks for the project's own run (loaded through SCHEMATHESIS_HOOKS).

A reused Idempotency-Key is the one 422 the schema cannot say: a generator picks keys
from the declared alphabet and soon sends one again with another body, which the API
refuses (`idempotency_key_reused`) as the Idempotency-Key draft asks. Every other
422 for a schema-valid request stays a failure.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import schemathesis


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    if response is None or response.status_code != 422:
        return True
    try:
        code = json.loads(response.content)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return True
    return bool(code != "idempotency_key_reused")


@schemathesis.hook
def map_headers(context: Any, headers: dict[str, Any] | None) -> dict[str, Any] | None:
    """A fresh key per request, so the commands run instead of answering the reuse (the key stays valid)."""
    if headers and isinstance(headers.get("Idempotency-Key"), str):
        headers["Idempotency-Key"] = headers["Idempotency-Key"][:180] + "-" + uuid.uuid4().hex[:16]
    return headers
