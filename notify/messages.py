"""The words of a notification in the subscription's language (en, zh-CN): a title and a line of facts."""

from __future__ import annotations

import html
from typing import Any

from delivery.stages import Stage

LANGUAGES = ("en", "zh-CN")

TITLES: dict[str, dict[str, str]] = {
    "en": {
        "gate_passed": "{project}: gate passed, now in {to_stage}",
        "stage_moved_back": "{project}: moved back to {to_stage}",
        "milestone_at_risk": "{project}: milestone “{title}” is at risk (due {due_on})",
        "milestone_late": "{project}: milestone “{title}” is late (was due {due_on})",
        "criterion_rejected": "{project}: acceptance criterion {criterion_id} rejected",
        "change_awaiting_decision": "{project}: change request “{title}” awaits a decision",
        "change_decided": "{project}: {subject} {ref} {decision}",
        "release_paused": "{project}: release {release_id} paused at {percent}%",
        "release_rolled_back": "{project}: release {release_id} rolled back from {from_percent}%",
        "release_completed": "{project}: release {release_id} completed",
        "client_sign_off": "{project}: the client {verdict} criterion {criterion_id}",
        "client_proposal": "{project}: the client proposes “{title}”",
    },
    "zh-CN": {
        "gate_passed": "{project}：已通过阶段关口，进入「{to_stage}」",
        "stage_moved_back": "{project}：退回到「{to_stage}」",
        "milestone_at_risk": "{project}：里程碑「{title}」有延期风险（截止 {due_on}）",
        "milestone_late": "{project}：里程碑「{title}」已延期（原定 {due_on}）",
        "criterion_rejected": "{project}：验收标准 {criterion_id} 被驳回",
        "change_awaiting_decision": "{project}：变更请求「{title}」等待决定",
        "change_decided": "{project}：{subject} {ref} {decision}",
        "release_paused": "{project}：发布 {release_id} 在 {percent}% 暂停",
        "release_rolled_back": "{project}：发布 {release_id} 从 {from_percent}% 回滚",
        "release_completed": "{project}：发布 {release_id} 已完成",
        "client_sign_off": "{project}：客户{verdict}了验收标准 {criterion_id}",
        "client_proposal": "{project}：客户提议「{title}」",
    },
}

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "approved": "approved", "rejected": "rejected", "withdrawn": "withdrawn", "accepted": "accepted",
        "declined": "declined", "verified": "verified", "change_request": "change request",
        "proposal": "proposal", "reason": "Reason", "by": "By", "client": "Client", "open": "Open the project",
        "footer": "You receive this because of a subscription in the delivery tracker.",
    },
    "zh-CN": {
        "approved": "已批准", "rejected": "驳回", "withdrawn": "已撤回", "accepted": "已接受", "declined": "已婉拒",
        "verified": "确认", "change_request": "变更请求", "proposal": "变更提议", "reason": "原因", "by": "操作人",
        "client": "客户", "open": "打开项目",
        "footer": "您收到这条消息，是因为在交付跟踪系统中订阅了它。",
    },
}


def language_of(value: str) -> str:
    """The catalog language for a subscription's `language` (zh, zh_CN, zh-CN: Chinese; else English)."""
    return "zh-CN" if value.replace("_", "-").lower().startswith("zh") else "en"


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def title(notice: dict[str, Any], language: str) -> str:
    """A notice (as the outbox stores it) as one line in `language`."""
    lang = language_of(language)
    data = notice.get("data", {})
    words = WORDS[lang]
    values = _Blank({k: v for k, v in data.items() if v is not None})
    values["project"] = notice.get("project", {}).get("name") or notice.get("project", {}).get("id", "")
    for key in ("to_stage", "from_stage"):
        if key in data:
            values[key] = Stage(data[key]).label(lang)
    for key in ("decision", "verdict", "subject"):
        if key in data:
            values[key] = words.get(str(data[key]), str(data[key]))
    values["ref"] = data.get("change_request_id") or data.get("proposal_id") or ""
    return TITLES[lang][notice["kind"]].format_map(values)


def details(notice: dict[str, Any], language: str) -> list[str]:
    """The lines below the title: reason, client, who did it."""
    words = WORDS[language_of(language)]
    data = notice.get("data", {})
    lines = []
    reason = data.get("reason") or data.get("comment") or data.get("description")
    if reason:
        lines.append(f"{words['reason']}: {reason}")
    client = notice.get("project", {}).get("client")
    if client:
        lines.append(f"{words['client']}: {client}")
    if notice.get("actor"):
        lines.append(f"{words['by']}: {notice['actor']}")
    return lines


def plain(notice: dict[str, Any], language: str, link: str | None = None) -> str:
    """Plain text: the title, the details, the link."""
    words = WORDS[language_of(language)]
    lines = [title(notice, language), *details(notice, language)]
    if link:
        lines.append(f"{words['open']}: {link}")
    return "\n".join(lines)


def markdown(notice: dict[str, Any], language: str, link: str | None = None) -> str:
    """The same as Markdown (WeCom and DingTalk robots render it)."""
    words = WORDS[language_of(language)]
    lines = [f"**{title(notice, language)}**", *(f"> {line}" for line in details(notice, language))]
    if link:
        lines.append(f"[{words['open']}]({link})")
    return "\n\n".join(lines)


def html_body(notice: dict[str, Any], language: str, link: str | None = None) -> str:
    """The same as a small HTML mail body (every value escaped)."""
    lang = language_of(language)
    words = WORDS[lang]
    items = "".join(f"<p>{html.escape(line)}</p>" for line in details(notice, language))
    anchor = f'<p><a href="{html.escape(link, quote=True)}">{html.escape(words["open"])}</a></p>' if link else ""
    return (f'<!doctype html><html lang="{lang}"><body><h2>{html.escape(title(notice, language))}</h2>'
            f'{items}{anchor}<p style="color:#666;font-size:small">{html.escape(words["footer"])}</p></body></html>')
