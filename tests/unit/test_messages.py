"""The message registry: every code renders, plurals pick their form, and the domain names only registered codes."""

from __future__ import annotations

import ast
import string
from pathlib import Path
from typing import Any

import pytest

from delivery import errors, health, messages
from delivery.changes import ChangeStatus
from delivery.errors import DeliveryError, GateNotMet, InvalidInput, NotFound, VersionMismatch
from delivery.messages import MESSAGES, TERMS, Message, msg
from delivery.milestones import CriterionState, MilestoneState
from delivery.participation import ProposalStatus
from delivery.project import Project
from delivery.releases import ReleaseState
from delivery.scope import ItemStatus, Tier
from projections import views
from tests.unit.domain_helpers import Given, refused
from tests.unit.test_reducers import Recorder, advance, through_solution

ROOT = Path(__file__).resolve().parents[2]


def sample(name: str, count: int = 2) -> Any:
    """A value of the kind a placeholder takes (lists where the code passes lists)."""
    return {"ids": ["CR1", "CR2"], "unmeasured": ["error_rate"], "failures": ["error_rate <= 1 (observed 3)"],
            "known": ["a", "b"], "options": ["x", "y"], "criteria": [msg("criterion_with_state", criterion_id="AC1",
                                                                         state="open")],
            "unmet": [msg("gate_no_plan")], "state": "rolled_back", "status": "raised", "allowed": ["open"],
            "action": "signed_off", "kind": "milestone", "role": "auditor",
            "metric": msg("metric_spec_bare", metric="m", comparator="<=", threshold=1.0)}.get(name, count)


def params_of(code: str, count: int = 2) -> dict[str, Any]:
    return {name: sample(name, count) for name in MESSAGES[code].placeholders()}


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_code_renders_with_its_parameters_and_leaves_no_placeholder(code: str) -> None:
    said = msg(code, **params_of(code))
    text = said.english()
    assert text.strip() and "{" not in text and "}" not in text, text
    # Sent as JSON and read back, it says the same.
    assert messages.from_dict(said.to_dict()).english() == text


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_both_forms_of_a_message_name_the_same_placeholders(code: str) -> None:
    template = MESSAGES[code]
    forms = [template.singular] + ([template.plural] if template.plural else [])
    named = [{n for _, n, _, _ in string.Formatter().parse(f) if n} for f in forms]
    assert all(n == named[0] for n in named)
    if template.plural is not None:
        assert template.count in named[0], f"{code}: the count {template.count} is not in the text"
    assert template.terms <= named[0]


def test_a_missing_placeholder_or_an_unknown_code_fails_at_once() -> None:
    with pytest.raises(KeyError, match="release_id"):
        msg("release_last_step", percent=5)
    with pytest.raises(KeyError):
        msg("no_such_message")


PLURALS = sorted(code for code, t in MESSAGES.items() if t.plural is not None)


@pytest.mark.parametrize("code", PLURALS)
@pytest.mark.parametrize("count", [0, 1, 2])
def test_a_count_picks_the_english_form(code: str, count: int) -> None:
    template = MESSAGES[code]
    params = params_of(code)
    params[str(template.count)] = count
    text = msg(code, **params).english()
    assert template.form(params) == (template.singular if count == 1 else template.plural)
    assert str(count) in text and "{" not in text


def test_late_requests_are_counted_in_good_english() -> None:
    assert msg("warning_late_requests", count=1, ids=["CR3"]).english() == (
        "1 change request raised after development began: CR3")
    assert msg("warning_late_requests", count=2, ids=["CR3", "CR4"]).english() == (
        "2 change requests raised after development began: CR3, CR4")
    assert msg("health_due_soon", days=1).english() == "a milestone is due within 1 day"
    assert msg("rule_max_chars", max=0).english() == "must be at most 0 characters"


def test_state_names_are_sent_raw_and_said_in_words() -> None:
    said = msg("release_state_refuses", release_id="R1", state="rolled_back", allowed=["ramping", "paused"],
               action="rolled_back")
    assert said.to_dict()["params"]["state"] == "rolled_back"
    assert said.english() == ("Release R1 is rolled back; only a release that is ramping or paused "
                              "can be rolled back.")


def test_every_state_status_and_action_has_a_word() -> None:
    raw = {s.value for enum in (CriterionState, ReleaseState, ChangeStatus, ItemStatus, ProposalStatus,
                                MilestoneState, Tier) for s in enum} | set(health.HEALTHS)
    source = (ROOT / "delivery" / "project.py").read_text(encoding="utf-8")
    actions = {node.value.value for node in ast.walk(ast.parse(source))
               if isinstance(node, ast.keyword) and node.arg == "verb" and isinstance(node.value, ast.Constant)}
    actions |= {c.value for c in ast.walk(ast.parse(source)) if isinstance(c, ast.Call)
                and getattr(c.func, "attr", "") in ("_pending_change", "_pending_proposal", "_check_not_client_signed")
                for c in c.args[1:2] if isinstance(c, ast.Constant)}
    assert actions >= {"advanced", "rolled_back", "signed_off", "withdrawn"}
    assert raw | actions <= TERMS.keys(), sorted((raw | actions) - TERMS.keys())


def test_every_template_is_marked_for_extraction() -> None:
    """Babel finds N_("...") and NP_("...", "..."): each registry value is built from literal marked strings."""
    tree = ast.parse((ROOT / "delivery" / "messages.py").read_text(encoding="utf-8"))
    registry = next(node.value for node in ast.walk(tree) if isinstance(node, ast.AnnAssign)
                    and getattr(node.target, "id", "") == "MESSAGES")
    assert isinstance(registry, ast.Dict)
    marked: dict[str, tuple[str, ...]] = {}
    for key, value in zip(registry.keys, registry.values, strict=True):
        assert isinstance(key, ast.Constant) and isinstance(value, ast.Call)
        marker = value.args[0]
        assert isinstance(marker, ast.Call) and getattr(marker.func, "id", "") in ("N_", "NP_"), key.value
        assert all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in marker.args), key.value
        marked[key.value] = tuple(a.value for a in marker.args)  # type: ignore[attr-defined]
    assert marked == {code: (t.singular,) if t.plural is None else (t.singular, t.plural)
                      for code, t in MESSAGES.items()}


# ------------------------------------------------------------ every refusal names a registered code

SELF_SPOKEN = {"NotFound", "KeyReused", "VersionMismatch", "GateNotMet", "UnknownCursor", "Unauthenticated",
               "Forbidden", "PayloadTooLarge", "DatabaseUnavailable"}


def _error_classes() -> set[str]:
    names = {cls.__name__ for cls in _subclasses(DeliveryError)}
    return names | {"DeliveryError"}


def _subclasses(cls: type) -> list[type]:
    return [cls, *(s for sub in cls.__subclasses__() for s in _subclasses(sub))]


def _calls_msg(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and getattr(n.func, "id", "") == "msg" for n in ast.walk(node))


def _raises(path: Path) -> list[tuple[int, ast.Call]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            found.append((node.lineno, node.exc))
    return found


def test_every_raise_in_the_domain_passes_a_registered_message() -> None:
    classes = _error_classes()
    checked, unspoken = 0, []
    for path in sorted((ROOT / "delivery").glob("*.py")):
        for line, call in _raises(path):
            func = call.func
            name = func.id if isinstance(func, ast.Name) else func.value.id if (
                isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)) else ""
            if name not in classes:
                continue  # ValueError and the like: a programmer's mistake, not a refusal a person reads
            checked += 1
            if name in SELF_SPOKEN and isinstance(func, ast.Name):
                continue  # builds its message from the registry itself (delivery/errors.py)
            if not _calls_msg(call):
                unspoken.append(f"{path.name}:{line}")
    assert checked > 100  # guards against a vacuous pass: the walk sees the domain's raises
    assert unspoken == []


def test_every_code_named_in_the_code_is_registered() -> None:
    named: dict[str, str] = {}
    for folder in ("delivery", "projections", "api"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "msg" and node.args
                        and isinstance(node.args[0], ast.Constant)):
                    named[str(node.args[0].value)] = f"{path.relative_to(ROOT)}:{node.lineno}"
    assert len(named) > 100
    assert {code: where for code, where in named.items() if code not in MESSAGES} == {}


def test_the_self_spoken_errors_carry_their_code() -> None:
    for error, code in ((NotFound("milestone", "M9"), "not_found"), (VersionMismatch(3, 5), "version_mismatch"),
                        (errors.KeyReused(), "rule_key_reused"), (errors.UnknownCursor(), "unknown_cursor"),
                        (GateNotMet("research", []), "gate_not_met")):
        assert error.details["message_code"] == code
        assert messages.Message(code, error.details["params"]).english() in error.message


def test_invalid_input_names_its_rule_by_code_with_the_field() -> None:
    error = InvalidInput("title", msg("rule_max_chars", max=200))
    assert error.message == "title: must be at most 200 characters."
    assert (error.details["rule"], error.details["message_code"]) == ("must be at most 200 characters",
                                                                      "rule_max_chars")
    assert error.details["params"] == {"field": "title", "max": 200}


def test_a_refusal_sends_raw_values_a_page_can_translate() -> None:
    given = Given()
    project = given.project()
    error = refused(project, Project.transition, "gate_not_met", to_stage="solution")
    assert error.details["message_code"] == "gate_not_met"
    unmet = error.details["params"]["unmet"]
    assert unmet == [{"code": "gate_no_plan", "params": {}}]
    assert error.details["unmet"][0]["message_code"] == "gate_no_plan"


# ------------------------------------------------------------ views

def test_health_reasons_come_from_the_registry() -> None:
    assert set(health.REASONS) == {code for code, _ in health.RULES} | {"no_plan", "on_track"}
    for code, text in health.REASONS.items():
        assert health.reason(code).code == f"health_{code}"
        assert health.reason(code).english() == text
    assert health.REASONS["drift_high"] == "scope drift above 50% of the baseline"
    assert health.reason("due_soon").params == {"days": health.DUE_SOON_DAYS}


def test_drift_warnings_are_sent_as_codes_beside_their_english() -> None:
    r = Recorder()
    ids = through_solution(r)  # left research with no funnel
    advance(r, "development")
    late = r(Project.raise_change_request, title="Share poster", requested_by="client", kind="add",
             tier="touchpoint", schedule_days=1, cost=0)
    drift = views.drift_summary(r.state())
    assert [w.code for w in drift.warning_messages] == [
        "warning_no_funnel", "warning_late_requests", "warning_raised_before_core"]
    assert drift.warning_messages[1].params == {"count": 1, "ids": [late]}
    assert drift.warnings[1] == f"1 change request raised after development began: {late}"
    assert drift.warnings == [Message(w.code, w.params).english() for w in drift.warning_messages]
    r(Project.raise_change_request, title="Delete share", requested_by="client", kind="remove",
      tier="touchpoint", scope_item_id=ids["touch"], schedule_days=0, cost=0)
    drift = views.drift_summary(r.state())
    assert drift.warnings[1].startswith("2 change requests raised after development began: ")


def test_babel_extracts_every_template_and_word_with_the_agreed_keywords() -> None:
    """`pybabel extract -k N_ -k NP_:1,2` over delivery/ finds each template (plural pairs as pairs) and term."""
    extract = pytest.importorskip("babel.messages.extract")
    with (ROOT / "delivery" / "messages.py").open("rb") as source:
        found = {m if isinstance(m, str) else tuple(m)
                 for _, _, m, _ in extract.extract_python(source, {"N_": None, "NP_": (1, 2)}, [], {})}
    wanted = {t.singular if t.plural is None else (t.singular, t.plural) for t in MESSAGES.values()}
    assert wanted | set(TERMS.values()) == found
