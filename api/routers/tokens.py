"""Tokens: a pm issues and revokes them; anyone signed in can ask who they are."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import CurrentUser, ProjectManager, ServicesDep
from api.errors import responses
from api.schemas import ClientTokenCreate, Me, TokenCreate, TokenCreated, TokenList, TokenView

router = APIRouter(tags=["tokens"])


@router.get("/me", response_model=Me, responses=responses(401))
def me(principal: CurrentUser) -> Me:
    """The identity of the token sent."""
    return Me(token_id=principal.token_id, role=principal.role, name=principal.name,
              projects=sorted(principal.projects))


@router.post("/tokens", status_code=201, response_model=TokenCreated, responses=responses(401, 403, 404, 413, 422))
def create_token(services: ServicesDep, principal: ProjectManager, body: TokenCreate) -> TokenCreated:
    """Issue a token; a client token names the projects it may see (404 for one that does not exist)."""
    projects = body.projects if isinstance(body, ClientTokenCreate) else []
    for pid in projects:
        services.app.get_project(pid)
    token, info = services.tokens.create(
        role=body.role, projects=projects, name=body.name, created_by=principal.name,
    )
    return TokenCreated(token=token, **asdict(info))


@router.get("/tokens", response_model=TokenList, responses=responses(401, 403))
def list_tokens(services: ServicesDep, _pm: ProjectManager) -> TokenList:
    """Every token issued (never the token itself), revoked ones included."""
    return TokenList(items=[TokenView(**asdict(t)) for t in services.tokens.list()])


@router.delete("/tokens/{token_id}", response_model=TokenView, responses=responses(401, 403, 404, 422))
def revoke_token(
    services: ServicesDep, _pm: ProjectManager,
    token_id: Annotated[str, Path(min_length=1, max_length=16, examples=["1a2b3c4d"])],
) -> TokenView:
    """Revoke a token: it stops working at once."""
    return TokenView(**asdict(services.tokens.revoke(token_id)))
