"""The HTTP baseline: a tiny FastAPI app answering stored bytes behind the same bearer-token check.

It runs as its own process under the same uvicorn settings as `delivery serve`
(`uvicorn.run(app, host, port)`, defaults otherwise). Reads answer the bytes the real
server answered for the same path and query (captured by the bench just before); the
one write parses the scope-item body with a pydantic model like the API's and answers
a write result. The token check is the API's: `Authorization: Bearer`, its SHA-256
looked up, here in a dict instead of a table.

Usage: BENCH_TOKEN=dt_... python bench/bare_app.py --port 8101 --fixtures fixtures.json [--style async|sync]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Literal

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Title = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S")]


class ScopeItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Title = Field(examples=["Checkout"])
    tier: Literal["core", "touchpoint", "value_added"]


class WriteResult(BaseModel):
    project_id: str
    version: int
    id: str | None = None


BEARER = HTTPBearer(auto_error=False)
PRINCIPALS: dict[str, str] = {}  # SHA-256 of a token -> its role, filled by create_app


def principal(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]) -> str:
    role = PRINCIPALS.get(hashlib.sha256(credentials.credentials.encode()).hexdigest()) if credentials else None
    if role is None:
        raise HTTPException(401, "unknown token")
    return role


async def principal_async(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]) -> str:
    return principal(credentials)


Who = Annotated[str, Depends(principal)]  # FastAPI runs a plain def dependency in its threadpool
WhoAsync = Annotated[str, Depends(principal_async)]  # and an async one on the event loop


def create_app(fixtures: dict[str, bytes], token: str, style: str = "async") -> FastAPI:
    """The bare endpoints; `style` says whether they (and the token check) are `async def`, the least FastAPI
    does per request, or plain `def`, run in its threadpool."""
    PRINCIPALS[hashlib.sha256(token.encode()).hexdigest()] = "pm"
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    def answer(request: Request) -> Response:
        key = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        try:
            return Response(fixtures[key], media_type="application/json")
        except KeyError:
            raise HTTPException(404, f"no fixture for {key}") from None

    def write(project_id: str, body: ScopeItemIn) -> WriteResult:
        return WriteResult(project_id=project_id, version=len(body.title), id="S1")

    if style == "async":
        @app.get("/api/v1/projects")
        async def portfolio_async(request: Request, who: WhoAsync) -> Response:
            return answer(request)

        @app.get("/api/v1/projects/{project_id}/{view}")
        async def view_async(project_id: str, view: str, request: Request, who: WhoAsync) -> Response:
            return answer(request)

        @app.post("/api/v1/projects/{project_id}/scope-items", status_code=201, response_model=WriteResult)
        async def add_scope_item_async(project_id: str, body: ScopeItemIn, who: WhoAsync) -> WriteResult:
            return write(project_id, body)
    else:
        @app.get("/api/v1/projects")
        def portfolio(request: Request, who: Who) -> Response:
            return answer(request)

        @app.get("/api/v1/projects/{project_id}/{view}")
        def view(project_id: str, view: str, request: Request, who: Who) -> Response:
            return answer(request)

        @app.post("/api/v1/projects/{project_id}/scope-items", status_code=201, response_model=WriteResult)
        def add_scope_item(project_id: str, body: ScopeItemIn, who: Who) -> WriteResult:
            return write(project_id, body)

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fixtures", type=Path, required=True, help="JSON: {path?query: response text}")
    parser.add_argument("--style", choices=["sync", "async"], default="async")
    args = parser.parse_args(argv)
    token = os.environ.get("BENCH_TOKEN", "")
    if not token:
        parser.error("BENCH_TOKEN must hold the bearer token to accept")
    fixtures = {key: text.encode() for key, text in json.loads(args.fixtures.read_text()).items()}
    uvicorn.run(create_app(fixtures, token, args.style), host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
