"""Stage templates: the plans a project can be created from (built in, and the organisation's own)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import CurrentUser, ServicesDep
from api.errors import responses
from api.schemas import TemplateCriterionOut, TemplateMilestoneOut, TemplateOut
from delivery.errors import NotFound
from delivery.templates import Template

router = APIRouter(prefix="/templates", tags=["templates"])


def template_out(t: Template) -> TemplateOut:
    return TemplateOut(
        name=t.name, title_en=t.title.en, title_zh=t.title.zh, description_en=t.description.en,
        description_zh=t.description.zh, duration_days=t.duration_days,
        milestones=[
            TemplateMilestoneOut(
                stage=m.stage.value, due_days=m.due_days, title_en=m.title.en, title_zh=m.title.zh,
                deliverables_en=[d.en for d in m.deliverables], deliverables_zh=[d.zh for d in m.deliverables],
                criteria=[TemplateCriterionOut(text_en=c.text.en, text_zh=c.text.zh, metric=c.metric,
                                               client_signoff=c.client_signoff)
                          for c in m.criteria],
            )
            for m in t.milestones
        ],
    )


@router.get("", response_model=list[TemplateOut], responses=responses(401))
def list_templates(services: ServicesDep, _principal: CurrentUser) -> list[TemplateOut]:
    """Every stage template on offer, with its milestones and acceptance criteria."""
    return [template_out(t) for t in services.app.templates]


@router.get("/{name}", response_model=TemplateOut, responses=responses(401, 404))
def get_template(
    services: ServicesDep, _principal: CurrentUser,
    name: Annotated[str, Path(min_length=1, max_length=64)],
) -> TemplateOut:
    """One stage template by name."""
    template = services.app.templates.templates.get(name)
    if template is None:
        raise NotFound("stage template", name)
    return template_out(template)
