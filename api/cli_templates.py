"""The stage templates' commands (`templates list|show|check`) and `create`, a project from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from delivery.errors import DeliveryError
from delivery.stages import STAGES
from delivery.templates import Catalog, check, language_of


def add_commands(commands: Any) -> None:
    templates = commands.add_parser(
        "templates", help="the stage templates: list them, show one, check a file",
        description="Stage templates are TOML files: the built-in ones and those in DELIVERY_TEMPLATES_DIR.",
    )
    actions = templates.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every template on offer (and any file refused)")
    listing.set_defaults(handler=_list)
    show = actions.add_parser("show", help="one template's plan, stage by stage")
    show.add_argument("name")
    show.add_argument("--language", default="en", help="en or zh (default en)")
    show.set_defaults(handler=_show)
    checking = actions.add_parser("check", help="validate a template file: every problem with its line and field")
    checking.add_argument("file", type=Path)
    checking.set_defaults(handler=_check)

    create = commands.add_parser("create", help="create a project, optionally planned from a stage template")
    create.add_argument("name")
    create.add_argument("--client", required=True)
    create.add_argument("--description", default="")
    create.add_argument("--template", help="a template name (see `delivery templates list`)")
    create.add_argument("--start-on", metavar="YYYY-MM-DD", help="the plan's start date (default today)")
    create.add_argument("--language", default="en", help="the language the plan is recorded in: en or zh")
    create.add_argument("--currency", default="CNY", help="the ISO 4217 code of its costs (default CNY)")
    create.add_argument("--pm", default="pm", help="who records it (default pm)")
    create.set_defaults(handler=_create)


def _list(args: argparse.Namespace) -> int:
    catalog = Catalog.load()
    for t in catalog:
        criteria = sum(len(m.criteria) for m in t.milestones)
        print(f"{t.name:<20} {t.title.en} / {t.title.zh}: {len(t.milestones)} milestones, "
              f"{criteria} criteria, {t.duration_days} days  ({t.source})")
    for source, problems in catalog.rejected.items():
        print(f"refused {source}: {len(problems)} problem(s), see `delivery templates check {source}`",
              file=sys.stderr)
    return 1 if catalog.rejected else 0


def _show(args: argparse.Namespace) -> int:
    try:
        template = Catalog.load().get(args.name)
        lang = language_of(args.language)
    except DeliveryError as exc:
        print(f"delivery templates show: {exc.message}", file=sys.stderr)
        return 2
    print(f"{template.name}: {template.title.pick(lang)}")
    if template.description.en:
        print(template.description.pick(lang))
    for stage in STAGES:
        print(f"\n{stage.order + 1}. {stage.label(lang)} ({stage.value})")
        for m in template.of_stage(stage):
            print(f"  day {m.due_days:>3}  {m.title.pick(lang)}")
            for d in m.deliverables:
                print(f"            - {d.pick(lang)}")
            for c in m.criteria:
                metric = c.metric
                measure = (f"  [{metric['name']} {metric['comparator']} {metric['threshold']:g}"
                           f"{' ' + metric['unit'] if metric['unit'] else ''}]") if metric else ""
                signoff = ("  [客户签字]" if lang == "zh" else "  [client sign-off]") if c.client_signoff else ""
                print(f"            ✓ {c.text.pick(lang)}{measure}{signoff}")
    return 0


def _check(args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{path}: cannot be read: {exc}", file=sys.stderr)
        return 2
    template, problems = check(text, name=path.stem)
    if template is None:
        for p in problems:
            print(f"{path}:{p.line}: {p.field}: {p.rule}")
        print(f"{path}: {len(problems)} problem(s); the template is not loaded.", file=sys.stderr)
        return 1
    criteria = sum(len(m.criteria) for m in template.milestones)
    print(f"{path}: valid template {template.name}: {len(template.milestones)} milestones, {criteria} criteria, "
          f"every stage planned.")
    return 0


def _create(args: argparse.Namespace) -> int:
    from delivery.application import DeliveryApplication
    from projections.service import ReadSide

    app = DeliveryApplication()
    try:
        try:
            recorded = app.create_project(
                name=args.name, client=args.client, description=args.description, template=args.template,
                start_on=args.start_on, language=args.language, currency=args.currency, actor=args.pm,
            )
        except DeliveryError as exc:
            print(f"delivery create: {exc.message}", file=sys.stderr)
            return 2
        with ReadSide(app) as views:
            views.catch_up()
    finally:
        app.close()
    print(recorded.project_id)
    print(f"Created at version {recorded.version}" + (f" from template {args.template}." if args.template else "."),
          file=sys.stderr)
    return 0
