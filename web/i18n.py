"""The pages' two languages: message catalogs, the choice of language, dates and numbers per locale."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from delivery.stages import Stage

LANGUAGES = ("en", "zh-CN")
DEFAULT = "en"
COOKIE = "dt_lang"

EN: dict[str, str] = {
    "app.title": "Delivery tracker",
    "nav.portfolio": "Portfolio",
    "nav.projects": "My projects",
    "nav.signout": "Sign out",
    "nav.skip": "Skip to content",
    "nav.language": "Language",
    "signin.title": "Sign in",
    "signin.token": "Access token",
    "signin.hint": "Paste the token your project manager gave you (it starts with dt_).",
    "signin.submit": "Sign in",
    "signin.bad": "That token is unknown or has been revoked.",
    "signin.signed_as": "Signed in as {name} ({role})",
    "role.pm": "project manager",
    "role.client": "client",
    "role.auditor": "auditor",
    "csrf.bad": "The form expired; please submit it again.",
    "share.bad": "This link is unknown, expired or revoked. Ask your project manager for a new one.",
    "share.title": "Client share links",
    "share.create": "Create share link",
    "share.days": "Valid for (days)",
    "share.revoke": "Revoke",
    "share.url": "Link",
    "share.expires": "Expires",
    "share.status": "Status",
    "share.active": "active",
    "share.revoked": "revoked",
    "share.expired": "expired",
    "share.created": "Share link created: {url}",
    "share.viewing": "You are viewing a read-only link to this project.",
    "badinput.title": "Cannot read this address",
    "notfound.title": "Not found",
    "notfound.text": "There is no such page, or it is not one you may see.",
    "forbidden.title": "Not allowed",
    "forbidden.text": "Your role may not open this page.",
    "portfolio.title": "Portfolio",
    "portfolio.empty": "No project matches.",
    "portfolio.next": "Next page",
    "portfolio.first": "First page",
    "filter.stage": "Stage",
    "filter.health": "Health",
    "filter.client": "Client",
    "filter.any": "Any",
    "filter.apply": "Filter",
    "col.project": "Project",
    "col.client": "Client",
    "col.stage": "Stage",
    "col.days": "Days in stage",
    "col.next": "Next milestone",
    "col.open": "Open criteria",
    "col.pending": "Pending changes",
    "col.drift": "Drift",
    "col.release": "Release",
    "col.health": "Health",
    "sort.by": "Sort the portfolio by {col}",
    "health.red": "red",
    "health.amber": "amber",
    "health.green": "green",
    "project.new": "New project",
    "project.name": "Name",
    "project.client": "Client",
    "project.description": "Description",
    "project.create": "Create project",
    "portal.stages": "Stages",
    "portal.current": "current stage",
    "portal.entered": "entered {date}",
    "portal.timeline": "Milestone timeline",
    "portal.timeline_desc": "Planned (hollow) against current (filled) due dates; the dashed line is today.",
    "portal.today": "today",
    "portal.milestones": "Milestones",
    "portal.checklist": "Acceptance checklist",
    "portal.changes": "Approved changes",
    "portal.no_changes": "No approved change requests.",
    "portal.releases": "Release ramp",
    "portal.no_releases": "No release yet.",
    "portal.scope": "Scope",
    "portal.launched": "Launched {date}",
    "portal.pm_console": "PM console",
    "portal.audit": "Audit replay",
    "portal.client_view": "Client view",
    "ms.due": "due {date}",
    "ms.planned": "planned {date}",
    "ms.slip": "slipped {n} days",
    "ms.progress": "{closed} of {total} criteria closed",
    "ms.status.planned": "planned",
    "ms.status.in_progress": "in progress",
    "ms.status.at_risk": "at risk",
    "ms.status.late": "late",
    "ms.status.done": "done",
    "ms.done_on_time": "done on time",
    "ms.done_late": "done {n} days late",
    "ms.none": "No milestones planned.",
    "crit.state.open": "open",
    "crit.state.verified": "verified",
    "crit.state.rejected": "rejected",
    "crit.state.waived": "waived",
    "crit.measured": "measured {value}",
    "crit.none": "No criteria.",
    "cr.impact": "{days} days, cost {cost}",
    "cr.status.pending": "pending",
    "cr.status.approved": "approved",
    "cr.status.rejected": "rejected",
    "cr.status.withdrawn": "withdrawn",
    "cr.status.implemented": "implemented",
    "cr.kind.add": "add",
    "cr.kind.modify": "modify",
    "cr.kind.remove": "remove",
    "tier.core": "core",
    "tier.touchpoint": "touchpoint",
    "tier.value_added": "value-added",
    "rel.state": "{version}: {state} at {percent}%",
    "rel.chart_desc": "Audience percent over time; grey bands are pauses, red marks are rollbacks.",
    "rel.state.planned": "planned",
    "rel.state.ramping": "ramping",
    "rel.state.paused": "paused",
    "rel.state.rolled_back": "rolled back",
    "rel.state.completed": "completed",
    "rel.paused": "paused at {percent}%: {reason}",
    "rel.rolled_back": "rolled back from {percent}%: {reason}",
    "console.title": "Project console",
    "console.done": "Recorded.",
    "console.transition": "Move stage",
    "console.to_stage": "To stage",
    "console.reason": "Reason",
    "console.reason_back": "Reason (needed to move back)",
    "console.complete_launch": "Close the delivery (launch complete)",
    "console.scope": "Scope items",
    "console.add_scope": "Add scope item",
    "console.title_field": "Title",
    "console.tier": "Tier",
    "console.item": "Scope item",
    "console.deliver": "Mark delivered",
    "console.remove": "Remove",
    "console.milestones": "Milestones",
    "console.plan_milestone": "Plan milestone",
    "console.due_on": "Due on",
    "console.deliverables": "Deliverables (one per line)",
    "console.milestone": "Milestone",
    "console.reschedule": "Reschedule",
    "console.complete_milestone": "Complete milestone",
    "console.completed_on": "Completed on (blank: today)",
    "console.criteria": "Acceptance criteria",
    "console.add_criterion": "Add criterion",
    "console.text": "Text",
    "console.metric": "Metric (optional)",
    "console.comparator": "Comparator",
    "console.threshold": "Threshold",
    "console.unit": "Unit",
    "console.criterion": "Criterion",
    "console.evidence": "Evidence",
    "console.measured": "Measured value (measurable criteria)",
    "console.verify": "Verify",
    "console.reject": "Reject",
    "console.waive": "Waive",
    "console.changes": "Change requests",
    "console.raise_cr": "Raise change request",
    "console.requested_by": "Requested by",
    "console.kind": "Kind",
    "console.schedule_days": "Schedule impact (days)",
    "console.cost": "Cost impact",
    "console.change_request": "Change request",
    "console.approve": "Approve",
    "console.withdraw": "Withdraw",
    "console.implement": "Mark implemented",
    "console.decide_cr": "Decide change request",
    "console.releases": "Releases",
    "console.plan_release": "Plan release",
    "console.version": "Version",
    "console.steps": "Steps (percent, comma separated)",
    "console.health": "Health checks (one per line, e.g. error_rate <= 1)",
    "console.release": "Release",
    "console.release_action": "Release action",
    "console.metrics": "Observed metrics (one per line, e.g. error_rate = 0.4)",
    "console.observe": "Record observation",
    "console.start": "Start",
    "console.advance": "Advance",
    "console.pause": "Pause",
    "console.resume": "Resume",
    "console.rollback": "Roll back",
    "console.complete": "Complete",
    "console.none": "(none)",
    "console.drift": "Drift {pct}% · {days} days · cost {cost}",
    "console.warnings": "Warnings",
    "error.title": "Refused",
    "error.field": "Field: {field}",
    "audit.title": "Audit replay",
    "audit.as_of": "As of (UTC)",
    "audit.position": "Or at event",
    "audit.latest": "latest",
    "audit.show": "Show",
    "audit.showing_as_of": "Showing the record as it stood at {when}.",
    "audit.showing_position": "Showing the record as of event #{position}.",
    "audit.showing_now": "Showing the current record.",
    "audit.events": "Event timeline",
    "audit.col.position": "#",
    "audit.col.time": "Recorded",
    "audit.col.type": "Event",
    "audit.col.actor": "By",
    "audit.view_here": "view as of here",
    "audit.more": "More events",
    "audit.bad_time": "Enter a date and time such as 2026-11-01T12:00.",
    "integrity.title": "Integrity and export",
    "integrity.valid": "History intact: every link of the hash chain holds",
    "integrity.broken": "History broken at event #{position} ({problem})",
    "integrity.problem.altered": "altered",
    "integrity.problem.deleted": "deleted",
    "integrity.problem.inserted": "inserted",
    "integrity.problem.reordered": "reordered",
    "integrity.problem.None": "unknown",
    "integrity.events": "{n} events verified",
    "integrity.head": "head",
    "integrity.unchained": "{n} not linked yet",
    "export.button": "Export (JSON Lines)",
    "export.hint": "Every event with its hash links; check it by hand as docs/audit.md shows.",
    "diff.title": "What changed",
    "diff.from": "From (UTC)",
    "diff.to": "To (UTC)",
    "diff.from_hint": "Blank: before the project began.",
    "diff.to_hint": "Blank: now.",
    "diff.compare": "Compare",
    "diff.beginning": "the beginning",
    "diff.window": "From {start} to {end}: {n} events.",
    "diff.nothing": "Nothing changed between these moments.",
    "diff.counts": "{added} added · {removed} removed · {changed} changed",
    "diff.view.summary": "Project",
    "diff.view.scope": "Scope",
    "diff.view.milestones": "Milestones",
    "diff.view.checklist": "Acceptance checklist",
    "diff.view.change_requests": "Change requests",
    "diff.view.releases": "Releases",
    "diff.col.item": "Item",
    "diff.col.change": "Change",
    "diff.col.fields": "Fields (before → after)",
    "diff.col.events": "Events",
    "diff.change.added": "added",
    "diff.change.removed": "removed",
    "diff.change.changed": "changed",
    "diff.events": "Events in this window",
    "diff.no_events": "No event was recorded between these moments.",
    "share.feed": "Calendar feed",
    "feed.subscribe": "Subscribe to the milestones in your calendar:",
    "feed.download": "Milestones calendar (.ics)",
    "lang.en": "English",
    "lang.zh-CN": "中文",
    "stage.history": "Stage history",
    "by": "by {who}",
}

ZH: dict[str, str] = {
    "app.title": "项目交付跟踪",
    "nav.portfolio": "项目总览",
    "nav.projects": "我的项目",
    "nav.signout": "退出登录",
    "nav.skip": "跳到正文",
    "nav.language": "语言",
    "signin.title": "登录",
    "signin.token": "访问令牌",
    "signin.hint": "粘贴项目经理提供的令牌（以 dt_ 开头）。",
    "signin.submit": "登录",
    "signin.bad": "令牌无效或已被撤销。",
    "signin.signed_as": "已登录：{name}（{role}）",
    "role.pm": "项目经理",
    "role.client": "客户",
    "role.auditor": "审计员",
    "csrf.bad": "表单已过期，请重新提交。",
    "share.bad": "此链接无效、已过期或已被撤销，请向项目经理索取新链接。",
    "share.title": "客户分享链接",
    "share.create": "创建分享链接",
    "share.days": "有效期（天）",
    "share.revoke": "撤销",
    "share.url": "链接",
    "share.expires": "到期",
    "share.status": "状态",
    "share.active": "有效",
    "share.revoked": "已撤销",
    "share.expired": "已过期",
    "share.created": "已创建分享链接：{url}",
    "share.viewing": "您正在通过只读链接查看此项目。",
    "badinput.title": "无法读取此地址",
    "notfound.title": "未找到",
    "notfound.text": "页面不存在，或您无权查看。",
    "forbidden.title": "无权访问",
    "forbidden.text": "您的角色不能打开此页面。",
    "portfolio.title": "项目总览",
    "portfolio.empty": "没有符合条件的项目。",
    "portfolio.next": "下一页",
    "portfolio.first": "第一页",
    "filter.stage": "阶段",
    "filter.health": "健康度",
    "filter.client": "客户",
    "filter.any": "全部",
    "filter.apply": "筛选",
    "col.project": "项目",
    "col.client": "客户",
    "col.stage": "阶段",
    "col.days": "本阶段天数",
    "col.next": "下一个里程碑",
    "col.open": "未关闭验收项",
    "col.pending": "待决变更",
    "col.drift": "范围偏移",
    "col.release": "发布",
    "col.health": "健康度",
    "sort.by": "按{col}排序全部项目",
    "health.red": "红",
    "health.amber": "黄",
    "health.green": "绿",
    "project.new": "新建项目",
    "project.name": "名称",
    "project.client": "客户",
    "project.description": "描述",
    "project.create": "创建项目",
    "portal.stages": "交付阶段",
    "portal.current": "当前阶段",
    "portal.entered": "{date} 进入",
    "portal.timeline": "里程碑时间线",
    "portal.timeline_desc": "空心为原计划日期，实心为当前截止日期；虚线为今天。",
    "portal.today": "今天",
    "portal.milestones": "里程碑",
    "portal.checklist": "验收清单",
    "portal.changes": "已批准的变更",
    "portal.no_changes": "暂无已批准的变更申请。",
    "portal.releases": "灰度发布进度",
    "portal.no_releases": "暂无发布。",
    "portal.scope": "范围",
    "portal.launched": "{date} 正式上线",
    "portal.pm_console": "项目经理控制台",
    "portal.audit": "审计回放",
    "portal.client_view": "客户视图",
    "ms.due": "截止 {date}",
    "ms.planned": "原计划 {date}",
    "ms.slip": "延期 {n} 天",
    "ms.progress": "验收项 {closed}/{total} 已关闭",
    "ms.status.planned": "已计划",
    "ms.status.in_progress": "进行中",
    "ms.status.at_risk": "有风险",
    "ms.status.late": "已逾期",
    "ms.status.done": "已完成",
    "ms.done_on_time": "按时完成",
    "ms.done_late": "逾期 {n} 天完成",
    "ms.none": "尚未计划里程碑。",
    "crit.state.open": "待验收",
    "crit.state.verified": "已验收",
    "crit.state.rejected": "未通过",
    "crit.state.waived": "已豁免",
    "crit.measured": "实测 {value}",
    "crit.none": "暂无验收项。",
    "cr.impact": "{days} 天，费用 {cost}",
    "cr.status.pending": "待决",
    "cr.status.approved": "已批准",
    "cr.status.rejected": "已拒绝",
    "cr.status.withdrawn": "已撤回",
    "cr.status.implemented": "已实施",
    "cr.kind.add": "新增",
    "cr.kind.modify": "修改",
    "cr.kind.remove": "删除",
    "tier.core": "核心",
    "tier.touchpoint": "触点",
    "tier.value_added": "增值",
    "rel.state": "{version}：{state}，{percent}%",
    "rel.chart_desc": "随时间变化的放量比例；灰色区间为暂停，红色标记为回滚。",
    "rel.state.planned": "已计划",
    "rel.state.ramping": "放量中",
    "rel.state.paused": "已暂停",
    "rel.state.rolled_back": "已回滚",
    "rel.state.completed": "已完成",
    "rel.paused": "在 {percent}% 暂停：{reason}",
    "rel.rolled_back": "从 {percent}% 回滚：{reason}",
    "console.title": "项目控制台",
    "console.done": "已记录。",
    "console.transition": "变更阶段",
    "console.to_stage": "目标阶段",
    "console.reason": "原因",
    "console.reason_back": "原因（回退时必填）",
    "console.complete_launch": "结束交付（上线完成）",
    "console.scope": "范围项",
    "console.add_scope": "添加范围项",
    "console.title_field": "标题",
    "console.tier": "层级",
    "console.item": "范围项",
    "console.deliver": "标记为已交付",
    "console.remove": "删除",
    "console.milestones": "里程碑",
    "console.plan_milestone": "计划里程碑",
    "console.due_on": "截止日期",
    "console.deliverables": "交付物（每行一个）",
    "console.milestone": "里程碑",
    "console.reschedule": "改期",
    "console.complete_milestone": "完成里程碑",
    "console.completed_on": "完成日期（留空为今天）",
    "console.criteria": "验收标准",
    "console.add_criterion": "添加验收项",
    "console.text": "内容",
    "console.metric": "指标（可选）",
    "console.comparator": "比较",
    "console.threshold": "阈值",
    "console.unit": "单位",
    "console.criterion": "验收项",
    "console.evidence": "证据",
    "console.measured": "实测值（可量化的验收项）",
    "console.verify": "验收通过",
    "console.reject": "不通过",
    "console.waive": "豁免",
    "console.changes": "变更申请",
    "console.raise_cr": "提出变更申请",
    "console.requested_by": "提出人",
    "console.kind": "类型",
    "console.schedule_days": "工期影响（天）",
    "console.cost": "费用影响",
    "console.change_request": "变更申请",
    "console.approve": "批准",
    "console.withdraw": "撤回",
    "console.implement": "标记为已实施",
    "console.decide_cr": "处理变更申请",
    "console.releases": "发布",
    "console.plan_release": "计划发布",
    "console.version": "版本",
    "console.steps": "放量步骤（百分比，逗号分隔）",
    "console.health": "健康检查（每行一个，如 error_rate <= 1）",
    "console.release": "发布",
    "console.release_action": "发布操作",
    "console.metrics": "观测指标（每行一个，如 error_rate = 0.4）",
    "console.observe": "记录观测",
    "console.start": "开始",
    "console.advance": "推进",
    "console.pause": "暂停",
    "console.resume": "恢复",
    "console.rollback": "回滚",
    "console.complete": "完成",
    "console.none": "（无）",
    "console.drift": "范围偏移 {pct}% · {days} 天 · 费用 {cost}",
    "console.warnings": "警示",
    "error.title": "操作被拒绝",
    "error.field": "字段：{field}",
    "audit.title": "审计回放",
    "audit.as_of": "截至（UTC）",
    "audit.position": "或截至事件",
    "audit.latest": "最新",
    "audit.show": "显示",
    "audit.showing_as_of": "显示 {when} 时的记录。",
    "audit.showing_position": "显示截至事件 #{position} 的记录。",
    "audit.showing_now": "显示当前记录。",
    "audit.events": "事件时间线",
    "audit.col.position": "#",
    "audit.col.time": "记录时间",
    "audit.col.type": "事件",
    "audit.col.actor": "记录人",
    "audit.view_here": "查看此刻",
    "audit.more": "更多事件",
    "audit.bad_time": "请输入日期和时间，例如 2026-11-01T12:00。",
    "integrity.title": "完整性与导出",
    "integrity.valid": "历史完整：哈希链的每一环均有效",
    "integrity.broken": "历史在事件 #{position} 处断裂（{problem}）",
    "integrity.problem.altered": "被修改",
    "integrity.problem.deleted": "被删除",
    "integrity.problem.inserted": "被插入",
    "integrity.problem.reordered": "顺序被调换",
    "integrity.problem.None": "未知",
    "integrity.events": "已验证 {n} 个事件",
    "integrity.head": "链头",
    "integrity.unchained": "{n} 个事件尚未链接",
    "export.button": "导出（JSON Lines）",
    "export.hint": "每个事件及其哈希链接；可按 docs/audit.md 所述手工核对。",
    "diff.title": "变更对比",
    "diff.from": "起始（UTC）",
    "diff.to": "截止（UTC）",
    "diff.from_hint": "留空：项目开始之前。",
    "diff.to_hint": "留空：现在。",
    "diff.compare": "对比",
    "diff.beginning": "开始",
    "diff.window": "从 {start} 到 {end}：{n} 个事件。",
    "diff.nothing": "这两个时刻之间没有变化。",
    "diff.counts": "新增 {added} · 删除 {removed} · 修改 {changed}",
    "diff.view.summary": "项目",
    "diff.view.scope": "范围",
    "diff.view.milestones": "里程碑",
    "diff.view.checklist": "验收清单",
    "diff.view.change_requests": "变更请求",
    "diff.view.releases": "发布",
    "diff.col.item": "条目",
    "diff.col.change": "变化",
    "diff.col.fields": "字段（之前 → 之后）",
    "diff.col.events": "事件",
    "diff.change.added": "新增",
    "diff.change.removed": "删除",
    "diff.change.changed": "修改",
    "diff.events": "此期间的事件",
    "diff.no_events": "这两个时刻之间没有记录任何事件。",
    "share.feed": "日历订阅",
    "feed.subscribe": "在日历中订阅里程碑：",
    "feed.download": "里程碑日历（.ics）",
    "lang.en": "English",
    "lang.zh-CN": "中文",
    "stage.history": "阶段历史",
    "by": "记录人 {who}",
}

# The domain's refusals carry English sentences; in Chinese the page says what the code means
# and still lists the structured details (which milestone, which criterion).
ZH_ERRORS: dict[str, str] = {
    "gate_not_met": "当前阶段尚不能结束：",
    "stage_skip": "不能跳过阶段，只能前进一个阶段。",
    "same_stage": "项目已处于该阶段。",
    "wrong_stage": "当前阶段不允许此操作。",
    "scope_frozen": "基线已冻结：范围只能通过已批准的变更申请修改。",
    "baseline_not_frozen": "基线尚未冻结。",
    "threshold_not_met": "实测值未达到阈值。",
    "release_unhealthy": "最近的健康观测未通过，不能继续放量。",
    "release_in_progress": "已有发布正在进行。",
    "invalid_state": "对象当前状态不允许此操作。",
    "invalid_input": "输入无效。",
    "not_found": "找不到该对象。",
    "duplicate": "已存在相同的对象。",
    "criteria_open": "仍有未关闭的验收项。",
    "project_closed": "项目交付已结束，不再接受操作。",
    "version_conflict": "有人同时修改了此项目，请重试。",
    "version_mismatch": "项目已被修改，请刷新后重试。",
    "views_behind": "视图尚未更新，请稍后刷新（操作已记录）。",
}

ZH_UNMET: dict[str, str] = {
    "milestone_open": "里程碑 {milestone_id} 尚未完成",
    "criterion_open": "{milestone_id} 上的验收项 {criterion_id} 状态为 {state}",
    "release_not_completed": "还没有发布完成 100% 放量",
}

CATALOGS: dict[str, dict[str, str]] = {"en": EN, "zh-CN": ZH}


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The remembered choice first, then the browser's Accept-Language, then English."""
    if cookie in CATALOGS:
        return cookie
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, i, tag.strip().lower()))
    for negative_q, _i, tag in sorted(ranked):
        if negative_q >= 0:
            continue
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT


class Translator:
    """Messages, dates and numbers in one language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in CATALOGS else DEFAULT
        self.catalog = CATALOGS[self.lang]
        self.zh = self.lang == "zh-CN"

    def __call__(self, key: str, **values: Any) -> str:
        text = self.catalog.get(key) or EN.get(key) or key
        return text.format(**values) if values else text

    def stage(self, item: Any, field: str = "stage") -> str:
        """A read model's stage label (`stage_label_zh` / `label_zh`) in this language."""
        suffix = "zh" if self.zh else "en"
        for name in (f"{field}_label_{suffix}", f"label_{suffix}"):
            if hasattr(item, name):
                return str(getattr(item, name))
        return str(getattr(item, field, item))

    def stage_name(self, stage_id: str) -> str:
        try:
            return Stage(stage_id).label(self.lang)
        except ValueError:
            return stage_id

    def date(self, value: date | datetime | None) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = value.date()
        if self.zh:
            return f"{value.year}年{value.month}月{value.day}日"
        return value.strftime("%-d %b %Y")

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return ""
        clock = value.strftime("%H:%M")
        return f"{self.date(value)} {clock} UTC"

    def number(self, value: float | int | Decimal | None, digits: int = 0) -> str:
        if value is None:
            return ""
        return f"{value:,.{digits}f}"

    def money(self, value: float | int | Decimal) -> str:
        # The amount's currency is the project's own; the tracker stores a bare number.
        return self.number(value, 2 if Decimal(str(value)) % 1 else 0)

    def error(self, code: str, message: str, details: dict[str, Any]) -> list[str]:
        """A refusal as lines a person can act on, in this language."""
        if not self.zh:
            return [message]
        head = ZH_ERRORS.get(code)
        if head is None:
            return [message]
        lines = [head]
        for item in details.get("unmet", []) or []:
            template = ZH_UNMET.get(str(item.get("kind")))
            if template:
                state = str(item.get("state", ""))
                values = {**item, "state": self.catalog.get(f"crit.state.{state}", state)}
                lines.append(template.format_map(_Default(values)))
        if code == "invalid_input" and details.get("field"):
            lines.append(f"{details['field']}: {details.get('rule', '')}")
        return lines


class _Default(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""
