"""The demo portfolio: eleven client projects, each a script of the commands a PM recorded.

The cases come from the practice articles: the 优购生鲜 fresh-grocery mini-program in three
phases, a Guangzhou equipment dealer's inquiry website, a CRM rollout, a scan-to-order
restaurant mini-program, a multi-store chain with a gradual release that had to roll back,
and smaller ones in their early stages. Every day in a script counts back from today, and
every command is recorded at that simulated moment (`clock.frozen_at`), so the demo always
looks current: late milestones are late now, the paused release was paused three weeks ago.

A script step names an application command and its arguments. Dates are written `On(-5)`
(five days ago); an id a step returns is kept under its `key` and used later as `Ref(key)`.
Scope items are kept under their title.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from delivery import clock
from delivery.application import DeliveryApplication
from delivery.stages import Stage

Progress = Callable[[int, int], None]

# Simulated working days start at 09:00 UTC; commands on the same day are this far apart.
DAY_START = time(9, 0)
STEP_GAP = timedelta(minutes=3)


@dataclass(frozen=True)
class On:
    """A date `days` from today (negative: in the past), resolved when the demo loads."""

    days: int


@dataclass(frozen=True)
class Ref:
    """The value an earlier step returned (an id such as M2 or CR1), by its key."""

    key: str


@dataclass(frozen=True)
class Step:
    day: int  # days from today; always in the past
    command: str  # a DeliveryApplication method
    args: dict[str, Any]
    key: str | None = None  # keep the command's value under this name
    actor: str | None = None  # who recorded it, when not the project's PM


@dataclass(frozen=True)
class ProjectScript:
    name: str
    client: str
    pm: str
    started: int  # the day the project was created
    description: str = ""
    steps: Sequence[Step] = field(default_factory=tuple)


# ------------------------------------------------------------------ step helpers


def at(day: int, command: str, *, key: str | None = None, actor: str | None = None, **args: Any) -> Step:
    return Step(day, command, args, key, actor)


def metric(name: str, comparator: str, threshold: float, unit: str = "") -> dict[str, Any]:
    return {"name": name, "comparator": comparator, "threshold": threshold, "unit": unit}


def check(name: str, comparator: str, threshold: float) -> dict[str, Any]:
    return {"metric": name, "comparator": comparator, "threshold": threshold}


def funnel(day: int, *steps: tuple[str, float]) -> Step:
    return at(day, "define_funnel", steps=[{"name": n, "expected_rate": r} for n, r in steps])


def scope(day: int, *items: tuple[str, str]) -> list[Step]:
    """Scope items as (title, tier); each is kept under its title."""
    return [at(day, "add_scope_item", key=title, title=title, tier=tier) for title, tier in items]


def deliver(day: int, *titles: str) -> list[Step]:
    return [at(day, "deliver_scope_item", item_id=Ref(t)) for t in titles]


def milestone(day: int, key: str, title: str, stage: str, due: int, *deliverables: str) -> Step:
    return at(day, "plan_milestone", key=key, title=title, stage=stage, due_on=On(due),
              deliverables=list(deliverables))


def criterion(day: int, key: str, on: str, text: str, measure: dict[str, Any] | None = None) -> Step:
    return at(day, "add_criterion", key=key, milestone_id=Ref(on), text=text, metric=measure)


def change(day: int, key: str, title: str, by: str, kind: str, tier: str, *, item: str | None = None,
           days: int = 0, cost: int = 0) -> Step:
    return at(day, "raise_change_request", key=key, title=title, requested_by=by, kind=kind, tier=tier,
              scope_item_id=Ref(item) if item else None, schedule_days=days, cost=cost)


def stage_done(stage: str, title: str, *, plan: int, due: int, done: int, deliverables: Sequence[str] = (),
               checks: Sequence[tuple[str, str]] = (), advance: bool = True) -> list[Step]:
    """An uneventful stage: one milestone, its plain criteria verified, completed, and the move on."""
    key = f"{stage}:{title}"
    steps = [milestone(plan, key, title, stage, due, *deliverables)]
    steps += [criterion(plan, f"{key}#{i}", key, text) for i, (text, _) in enumerate(checks)]
    steps += [at(done, "verify_criterion", criterion_id=Ref(f"{key}#{i}"), evidence=evidence)
              for i, (_, evidence) in enumerate(checks)]
    steps.append(at(done, "complete_milestone", milestone_id=Ref(key)))
    nxt = Stage(stage).next
    if advance and nxt is not None:
        steps.append(at(done, "transition", to_stage=nxt.value))
    return steps


def ramp(release: str, *, start: int, every: int, readings: Sequence[dict[str, float]],
         complete: bool = False) -> list[Step]:
    """A healthy observation at each step, each followed by the advance (or, at 100%, completion)."""
    steps: list[Step] = []
    for i, reading in enumerate(readings):
        day = start + i * every
        steps.append(at(day, "record_observation", release_id=Ref(release), metrics=reading))
        last = complete and i == len(readings) - 1
        steps.append(at(day, "complete_release" if last else "advance_release", release_id=Ref(release)))
    return steps


# ------------------------------------------------------------------ the portfolio

YOUGOU = "优购生鲜"
YOUGOU_MARKETING = "优购生鲜 市场部"

YOUGOU_PHASE_1 = ProjectScript(
    name="优购生鲜小程序 一期：浏览-下单-支付-自提", client=YOUGOU, pm="李娜", started=-150,
    description="MVP：核心电商流程上线，验证『今晚预约，明晚自提』的可用性与用户接受度。",
    steps=[
        *scope(-150, ("商品浏览与分类", "core"), ("购物车与下单", "core"), ("微信支付", "core"),
               ("预约自提", "core"), ("订单查询", "core"), ("微信分享卡片", "touchpoint"),
               ("企业微信客服入口", "touchpoint"), ("转化埋点（加购-结算-支付）", "touchpoint"),
               ("会员积分", "value_added")),
        funnel(-149, ("进入小程序浏览商品", 60), ("加入购物车", 35), ("提交订单", 60), ("支付成功", 85)),
        *stage_done("research", "需求调研与用户画像", plan=-149, due=-140, done=-141,
                    deliverables=["门店 POS 数据分析", "三类用户画像", "竞品对标表"],
                    checks=[("访谈门店会员并形成三类用户画像", "15 份访谈纪要与画像文档 v1")]),
        # Core path first: points move to phase two before the baseline freezes.
        at(-139, "remove_scope_item", item_id=Ref("会员积分")),
        *stage_done("solution", "高保真原型与方案确认", plan=-139, due=-132, done=-133,
                    checks=[("客户签字确认高保真原型", "原型确认单（市场部签字）")]),
        *stage_done("planning", "三阶段路线图与验收标准", plan=-132, due=-128, done=-129,
                    deliverables=["三阶段路线图", "验收标准清单"]),
        milestone(-128, "dev", "核心交易链路开发完成", "development", -95,
                  "浏览-加购-支付-自提主干流程", "支付回调与订单通知"),
        criterion(-128, "pkg", "dev", "主包体积控制在 2 MB 以内（分包加载）",
                  metric("main_package_mb", "<=", 2, "MB")),
        change(-110, "flash", "首页增加限时秒杀专区", YOUGOU_MARKETING, "add", "value_added", days=10, cost=18000),
        at(-108, "reject_change_request", change_request_id=Ref("flash"),
           reason="一期只做核心交易链路；秒杀并入二期智能促销。"),
        change(-105, "hours", "自提点显示营业时间与可取货时段", "优购生鲜 门店运营部", "modify", "core",
               item="预约自提", days=2, cost=3000),
        at(-104, "approve_change_request", change_request_id=Ref("hours"), reason="直接影响自提履约率，工作量小。"),
        at(-99, "implement_change_request", change_request_id=Ref("hours")),
        *deliver(-97, "商品浏览与分类", "购物车与下单", "微信支付", "预约自提", "订单查询"),
        at(-96, "verify_criterion", criterion_id=Ref("pkg"), evidence="构建报告：主包 1.6 MB，分包 3 个",
           measured=1.6),
        at(-96, "complete_milestone", milestone_id=Ref("dev")),
        at(-96, "transition", to_stage="integration_test"),
        milestone(-95, "it", "联调与性能测试通过", "integration_test", -86),
        criterion(-95, "pay", "it", "支付-回调-通知链路联调通过"),
        criterion(-95, "p95", "it", "商品列表页 p95 加载 ≤ 1000 ms", metric("p95_load_ms", "<=", 1000, "ms")),
        at(-90, "verify_criterion", criterion_id=Ref("pay"), evidence="联调用例 48/48 通过", actor="王芳（测试）"),
        at(-89, "reject_criterion", criterion_id=Ref("p95"), reason="弱网测试 p95 1420 ms：商品图未走 CDN。",
           actor="王芳（测试）"),
        at(-85, "verify_criterion", criterion_id=Ref("p95"), evidence="图片切换 CDN 后的压测报告",
           measured=860, actor="王芳（测试）"),
        at(-85, "complete_milestone", milestone_id=Ref("it")),
        at(-85, "transition", to_stage="uat"),
        milestone(-84, "uat", "门店 UAT 验收", "uat", -77),
        criterion(-84, "walk", "uat", "店长走查『今晚预约，明晚自提』全流程并签字"),
        at(-79, "reschedule_milestone", milestone_id=Ref("uat"), due_on=On(-74),
           reason="客户门店季度盘点，UAT 顺延 3 天。"),
        at(-74, "verify_criterion", criterion_id=Ref("walk"), evidence="3 家试点门店走查记录与签字"),
        at(-74, "complete_milestone", milestone_id=Ref("uat")),
        at(-74, "transition", to_stage="trial"),
        milestone(-73, "trial", "培训与试运行", "trial", -58, "门店员工培训", "运营后台手册"),
        criterion(-73, "train", "trial", "门店员工培训覆盖率 ≥ 90%", metric("training_coverage", ">=", 90, "%")),
        criterion(-73, "crash", "trial", "试运行期间 crash-free 会话 ≥ 99.5%",
                  metric("crash_free_sessions", ">=", 99.5, "%")),
        at(-72, "plan_release", key="r1", version="v1.0.0", steps=[1, 5, 20, 50, 100],
           health=[check("error_rate", "<=", 0.5), check("pay_success_rate", ">=", 98)]),
        at(-72, "start_release", release_id=Ref("r1")),
        *ramp("r1", start=-71, every=2, complete=True, readings=[
            {"error_rate": 0.2, "pay_success_rate": 99.1}, {"error_rate": 0.3, "pay_success_rate": 98.7},
            {"error_rate": 0.4, "pay_success_rate": 98.2}, {"error_rate": 0.3, "pay_success_rate": 99.0},
            {"error_rate": 0.2, "pay_success_rate": 99.2},
        ]),
        at(-63, "verify_criterion", criterion_id=Ref("train"), evidence="培训签到表 48/50", measured=96),
        at(-62, "verify_criterion", criterion_id=Ref("crash"), evidence="微信后台性能监控截图", measured=99.8),
        at(-62, "complete_milestone", milestone_id=Ref("trial")),
        at(-62, "transition", to_stage="launch"),
        milestone(-61, "launch", "正式上线与运营交接", "launch", -47),
        criterion(-61, "young", "launch", "新注册用户中 25-40 岁占比 ≥ 70%",
                  metric("new_users_25_40_pct", ">=", 70, "%")),
        criterion(-61, "handover", "launch", "运营手册与后台培训交付"),
        at(-48, "verify_criterion", criterion_id=Ref("young"), evidence="上线两周注册用户画像报表", measured=73.5),
        at(-48, "verify_criterion", criterion_id=Ref("handover"), evidence="交接确认单（优购生鲜 运营部）"),
        at(-47, "record_funnel_actuals", rates=[58, 29, 63, 91]),
        at(-47, "complete_milestone", milestone_id=Ref("launch")),
        at(-46, "complete_launch"),
    ],
)

YOUGOU_PHASE_2 = ProjectScript(
    name="优购生鲜小程序 二期：信任体系与智能促销", client=YOUGOU, pm="李娜", started=-52,
    description="详情页溯源与质检报告、用户评价，以及券包推荐、好友拼团、分享裂变红包。",
    steps=[
        *scope(-52, ("商品溯源信息可视化", "core"), ("第三方质检报告上传", "core"), ("用户评价与晒单", "core"),
               ("分享裂变红包", "touchpoint"), ("券包推荐", "value_added"),
               ("好友拼团（开团-邀请-成团-通知）", "value_added"), ("会员积分体系", "value_added")),
        funnel(-51, ("详情页浏览", 70), ("加入购物车", 40), ("支付成功", 55)),
        *stage_done("research", "二期需求评审：信任体系与促销", plan=-51, due=-44, done=-44,
                    checks=[("一期数据复盘：找出流失最大的环节", "一期漏斗报表：加购转化 29%，低于预期 35%")]),
        *stage_done("solution", "详情页与促销方案确认", plan=-43, due=-37, done=-38),
        *stage_done("planning", "二期排期确认", plan=-37, due=-33, done=-34),
        milestone(-33, "trust", "详情页增强与评价上线", "development", -3, "溯源可视化", "质检报告入口", "评价与晒单"),
        criterion(-33, "traced", "trust", "溯源信息覆盖在售 SKU ≥ 80%", metric("traced_sku_pct", ">=", 80, "%")),
        milestone(-33, "promo", "智能促销引擎", "development", 5, "券包推荐", "好友拼团"),
        change(-20, "live", "新增直播带货入口", YOUGOU_MARKETING, "add", "value_added", days=15, cost=40000),
        change(-16, "newbie", "新人专属券包", YOUGOU_MARKETING, "add", "value_added", days=5, cost=8000),
        at(-15, "approve_change_request", change_request_id=Ref("newbie"), reason="拉新活动需要，客户确认追加预算。"),
        at(-14, "reschedule_milestone", milestone_id=Ref("promo"), due_on=On(12),
           reason="新人专属券包变更追加工期。"),
        change(-12, "trio", "拼团改为三人成团", YOUGOU_MARKETING, "modify", "value_added",
               item="好友拼团（开团-邀请-成团-通知）", days=2, cost=2000),
        at(-9, "withdraw_change_request", change_request_id=Ref("trio")),
        *deliver(-8, "第三方质检报告上传"),
    ],
)

YOUGOU_PHASE_3 = ProjectScript(
    name="优购生鲜小程序 三期：A/B 测试迭代优化", client=YOUGOU, pm="李娜", started=-9,
    description="基于 A/B 测试数据打磨体验，对齐 6 个月经营目标。",
    steps=[
        *scope(-9, ("A/B 测试框架", "core"), ("7 日复购提醒", "touchpoint"), ("过程指标数据看板", "value_added")),
        milestone(-8, "ab", "A/B 测试方案与看板指标确认", "research", 4),
        criterion(-8, "kpi", "ab", "明确过程指标：详情页到支付转化率、券核销率、7 日复购比例"),
        milestone(-8, "goals", "6 个月经营目标复盘", "launch", 170),
        criterion(-8, "share", "goals", "线上渠道销售额占总销售额 ≥ 15%", metric("online_sales_share", ">=", 15, "%")),
        criterion(-8, "age", "goals", "新注册用户中 25-40 岁占比 ≥ 70%", metric("new_users_25_40_pct", ">=", 70, "%")),
        criterion(-8, "repeat", "goals", "整体会员复购率提升 ≥ 20%", metric("repurchase_uplift_pct", ">=", 20, "%")),
    ],
)

SUIGONG = ProjectScript(
    name="官网询盘系统", client="广州穗工机电设备有限公司", pm="陈浩", started=-118,
    description="业务闭环：潜在客户从百度搜索关键词进入官网，最终完成电话预约上门考察。",
    steps=[
        *scope(-118, ("产品中心（按工况筛选）", "core"), ("询盘表单（精简字段）", "core"),
               ("询盘即时推送销售企业微信", "core"), ("首页三入口并列（客服/表单/下载）", "core"),
               ("百度统计代码", "touchpoint"), ("企业微信客服链接", "touchpoint"), ("产品资料下载", "touchpoint")),
        funnel(-117, ("浏览产品页", 60), ("点击询盘按钮", 40), ("提交询盘表单", 62.5), ("电话预约上门考察", 50)),
        *stage_done("research", "询盘闭环与转化漏斗梳理", plan=-117, due=-108, done=-107,
                    checks=[("写清业务闭环：从百度搜索到电话预约上门考察", "闭环描述与漏斗模型 v2")]),
        # Three entry points side by side leave visitors unsure where to ask: one inquiry path instead.
        at(-106, "remove_scope_item", item_id=Ref("首页三入口并列（客服/表单/下载）")),
        *stage_done("solution", "页面结构与表单字段确认", plan=-106, due=-99, done=-99),
        *stage_done("planning", "开发排期确认", plan=-98, due=-95, done=-95),
        milestone(-94, "dev", "官网与询盘后台开发", "development", -70),
        criterion(-94, "fields", "dev", "询盘表单必填项 ≤ 5 个", metric("required_fields", "<=", 5, "个")),
        change(-88, "anim", "首页增加 3D 设备展示动画", "穗工机电 总经理", "add", "value_added", days=12, cost=25000),
        at(-86, "reject_change_request", change_request_id=Ref("anim"),
           reason="核心指标是有效询盘量，不是首屏效果；动画还会拖慢首屏加载。"),
        change(-80, "member", "会员注册与积分体系", "穗工机电 市场部", "add", "value_added", days=20, cost=36000),
        at(-77, "withdraw_change_request", change_request_id=Ref("member")),
        at(-72, "verify_criterion", criterion_id=Ref("fields"), evidence="表单字段评审记录", measured=4),
        *deliver(-71, "产品中心（按工况筛选）", "询盘表单（精简字段）", "询盘即时推送销售企业微信"),
        at(-71, "complete_milestone", milestone_id=Ref("dev")),
        at(-71, "transition", to_stage="integration_test"),
        milestone(-70, "it", "联调测试", "integration_test", -60),
        criterion(-70, "notify", "it", "询盘提交后 60 秒内推送到销售企业微信",
                  metric("notify_latency_s", "<=", 60, "s")),
        change(-66, "model", "询盘表单增加『设备型号』下拉", "穗工机电 销售部", "modify", "core",
               item="询盘表单（精简字段）", days=3, cost=4500),
        at(-65, "approve_change_request", change_request_id=Ref("model"),
           reason="销售回访需要型号，省去一次电话确认。"),
        at(-61, "implement_change_request", change_request_id=Ref("model")),
        at(-61, "verify_criterion", criterion_id=Ref("notify"), evidence="联调日志：平均 12 秒", measured=12),
        at(-60, "complete_milestone", milestone_id=Ref("it")),
        at(-60, "transition", to_stage="uat"),
        *stage_done("uat", "客户 UAT 验收", plan=-59, due=-50, done=-48,
                    checks=[("销售部走查询盘到回访的全流程", "UAT 签字单")]),
        milestone(-47, "trial", "试运行两周与数据复盘", "trial", 4),
        criterion(-47, "rate", "trial", "有效询盘提交率 ≥ 2%", metric("inquiry_submit_rate", ">=", 2, "%")),
        at(-30, "plan_release", key="r1", version="v1.0", steps=[10, 50, 100],
           health=[check("form_error_rate", "<=", 1), check("page_p95_ms", "<=", 1500)]),
        at(-30, "start_release", release_id=Ref("r1")),
        *ramp("r1", start=-28, every=7, readings=[{"form_error_rate": 0.3, "page_p95_ms": 980}]),
        at(-21, "record_observation", release_id=Ref("r1"), metrics={"form_error_rate": 0.4, "page_p95_ms": 1040}),
        at(-20, "pause_release", release_id=Ref("r1"), reason="百度推广落地页改版，暂停放量，等待新关键词上线。"),
    ],
)

NORTHWIND_SALES = "Northwind sales director"

NORTHWIND_CRM = ProjectScript(
    name="Northwind CRM rollout", client="Northwind Trading Co.", pm="Emma Clarke", started=-105,
    description="Replace the sales spreadsheets: web lead to quote in one place, synced with the ERP.",
    steps=[
        *scope(-105, ("Lead capture from the website form", "core"), ("Pipeline and opportunity stages", "core"),
               ("Quote generation (PDF)", "core"), ("ERP customer sync", "touchpoint"),
               ("Outlook email integration", "touchpoint"), ("Fax order intake", "touchpoint"),
               ("Sales leaderboard", "value_added")),
        funnel(-104, ("Lead qualified", 40), ("Quote sent", 50), ("Deal won", 30)),
        *stage_done("research", "Workflow and pain-point mapping", plan=-104, due=-95, done=-96,
                    checks=[("Pain points logged per team: re-keying, lost handovers", "Workshop notes, 3 teams")]),
        *stage_done("solution", "Solution design signed off", plan=-95, due=-88, done=-88,
                    checks=[("Sales director approves the role and permission matrix", "Signed matrix v3")]),
        milestone(-87, "plan", "Rollout and data migration plan", "planning", -82),
        change(-86, "erp", "Sync the ERP customer master every 15 minutes", "Northwind IT", "modify", "touchpoint",
               item="ERP customer sync", days=4, cost=6000),
        at(-85, "approve_change_request", change_request_id=Ref("erp"),
           reason="A nightly sync leaves reps quoting stale credit limits."),
        at(-83, "complete_milestone", milestone_id=Ref("plan")),
        at(-83, "transition", to_stage="development"),
        milestone(-82, "dev", "CRM configuration complete", "development", -55),
        criterion(-82, "import", "dev", "Legacy lead import loses no records",
                  metric("records_lost", "<=", 0, "records")),
        change(-75, "fax", "Drop fax order intake", "Northwind operations", "remove", "touchpoint",
               item="Fax order intake", days=-3, cost=-2500),
        at(-74, "approve_change_request", change_request_id=Ref("fax"), reason="Fewer than two fax orders a month."),
        change(-70, "dash", "Manager dashboard with forecast", NORTHWIND_SALES, "add", "value_added",
               days=8, cost=12000),
        at(-69, "approve_change_request", change_request_id=Ref("dash"),
           reason="Client pays; built after the core path."),
        change(-66, "app", "Native mobile app for field reps", NORTHWIND_SALES, "add", "value_added",
               days=45, cost=90000),
        at(-64, "reject_change_request", change_request_id=Ref("app"),
           reason="The responsive web app covers field use; revisit after launch."),
        at(-60, "implement_change_request", change_request_id=Ref("erp")),
        at(-58, "implement_change_request", change_request_id=Ref("fax")),
        at(-56, "verify_criterion", criterion_id=Ref("import"), evidence="Reconciliation: 18,204 of 18,204 leads",
           measured=0),
        *deliver(-56, "Lead capture from the website form", "Pipeline and opportunity stages",
                 "Quote generation (PDF)"),
        at(-55, "complete_milestone", milestone_id=Ref("dev")),
        at(-55, "transition", to_stage="integration_test"),
        *stage_done("integration_test", "Integration test with ERP and Outlook", plan=-54, due=-45, done=-44,
                    checks=[("ERP sync round trip verified on 50 accounts", "Test log IT-12")]),
        milestone(-43, "uat", "Sales team UAT sign-off", "uat", -30),
        criterion(-43, "dup", "uat", "Duplicate leads are merged on import"),
        criterion(-43, "quote", "uat", "Quote PDF matches the finance template"),
        criterion(-43, "board", "uat", "Pipeline board p95 load ≤ 2000 ms", metric("p95_load_ms", "<=", 2000, "ms")),
        at(-38, "verify_criterion", criterion_id=Ref("dup"), evidence="UAT script 4 passed"),
        at(-36, "reject_criterion", criterion_id=Ref("dup"),
           reason="The merge keeps the older owner: reps lose leads they worked this month."),
        at(-36, "transition", to_stage="development", reason="UAT found a defect in the duplicate-merge rules."),
        milestone(-35, "fix", "Fix the duplicate-merge rules", "development", -28),
        at(-29, "complete_milestone", milestone_id=Ref("fix")),
        at(-29, "transition", to_stage="integration_test"),
        at(-28, "transition", to_stage="uat"),
        at(-27, "verify_criterion", criterion_id=Ref("dup"), evidence="UAT script 4 re-run after the fix"),
        at(-26, "reject_criterion", criterion_id=Ref("quote"),
           reason="The VAT line is missing on multi-currency quotes."),
        at(-25, "reschedule_milestone", milestone_id=Ref("uat"), due_on=On(-5),
           reason="UAT restarted after the import fix."),
        at(-22, "verify_criterion", criterion_id=Ref("board"), evidence="Load test with 40 reps", measured=1450),
    ],
)

DIANWEI = ProjectScript(
    name="扫码点餐小程序", client="云南滇味过桥米线连锁", pm="杨帆", started=-135,
    description="门店扫码点餐缩短排队时间：扫码、点单、支付、出餐叫号。",
    steps=[
        *scope(-135, ("扫码点餐", "core"), ("微信支付与回调", "core"), ("出餐叫号通知", "core"),
               ("门店二维码物料", "touchpoint"), ("公众号关联", "touchpoint"), ("签到领积分", "value_added")),
        funnel(-134, ("扫码进入点餐页", 85), ("加入菜品", 70), ("支付成功", 90)),
        *stage_done("research", "门店排队痛点调研", plan=-134, due=-125, done=-125,
                    checks=[("午高峰排队时长实测", "3 家门店 5 天观察记录")]),
        *stage_done("solution", "点餐流程与菜单结构确认", plan=-124, due=-118, done=-118),
        *stage_done("planning", "上线计划确认", plan=-117, due=-114, done=-114),
        *stage_done("development", "点餐与支付开发", plan=-113, due=-85, done=-84,
                    checks=[("支付-回调-通知完整链路可用", "联调记录与回调日志")]),
        *stage_done("integration_test", "兼容性与压测", plan=-83, due=-75, done=-75,
                    checks=[("覆盖 iOS/Android 主流机型与微信版本", "兼容性测试报告")]),
        milestone(-74, "uat", "门店 UAT", "uat", -66),
        criterion(-74, "print", "uat", "后厨小票打印机自动出单"),
        criterion(-74, "peak", "uat", "午高峰下单成功率 ≥ 99%", metric("peak_order_success", ">=", 99, "%")),
        at(-68, "waive_criterion", criterion_id=Ref("print"),
           reason="三家门店打印机型号老旧，客户决定先用平板接单，换新后补测。"),
        at(-67, "verify_criterion", criterion_id=Ref("peak"), evidence="模拟 200 单/10 分钟压测", measured=99.4),
        at(-66, "complete_milestone", milestone_id=Ref("uat")),
        at(-66, "transition", to_stage="trial"),
        milestone(-65, "trial", "三家门店试运行", "trial", -40),
        criterion(-65, "queue", "trial", "午高峰平均排队 ≤ 8 分钟", metric("avg_queue_min", "<=", 8, "分钟")),
        at(-60, "plan_release", key="r1", version="v1.0", steps=[10, 30, 100],
           health=[check("pay_callback_fail_rate", "<=", 0.2), check("error_rate", "<=", 1)]),
        at(-60, "start_release", release_id=Ref("r1")),
        *ramp("r1", start=-59, every=1, readings=[{"pay_callback_fail_rate": 0.1, "error_rate": 0.4}]),
        at(-57, "record_observation", release_id=Ref("r1"), metrics={"pay_callback_fail_rate": 1.8, "error_rate": 0.6}),
        at(-57, "roll_back_release", release_id=Ref("r1"),
           reason="支付回调失败率 1.8%：部分订单已付款未出单，回滚排查。"),
        at(-52, "plan_release", key="r2", version="v1.0.1", steps=[10, 30, 100],
           health=[check("pay_callback_fail_rate", "<=", 0.2), check("error_rate", "<=", 1)]),
        at(-52, "start_release", release_id=Ref("r2")),
        *ramp("r2", start=-51, every=3, complete=True, readings=[
            {"pay_callback_fail_rate": 0.05, "error_rate": 0.3}, {"pay_callback_fail_rate": 0.08, "error_rate": 0.4},
            {"pay_callback_fail_rate": 0.06, "error_rate": 0.3},
        ]),
        at(-44, "verify_criterion", criterion_id=Ref("queue"), evidence="试运行三周排队数据", measured=6.5),
        at(-43, "complete_milestone", milestone_id=Ref("trial")),
        at(-43, "transition", to_stage="launch"),
        milestone(-42, "launch", "全部门店上线与数据复盘", "launch", 6),
        criterion(-42, "complaints", "launch", "午市排队投诉下降 ≥ 50%", metric("complaint_drop_pct", ">=", 50, "%")),
    ],
)

HUIWEI = ProjectScript(
    name="多门店点单与库存小程序", client="合肥徽味餐饮连锁", pm="周敏", started=-112,
    description="12 家门店统一库存模型与分区路由；灰度上线，不影响现有门店营业。",
    steps=[
        *scope(-112, ("统一库存模型", "core"), ("门店分区路由", "core"), ("线上点单", "core"),
               ("门店库存同步", "core"), ("线下引流落地页", "touchpoint"), ("本地促销日历", "value_added")),
        *stage_done("research", "多门店库存与订单现状梳理", plan=-111, due=-102, done=-102,
                    checks=[("12 家门店库存口径统一", "库存口径对照表")]),
        *stage_done("solution", "库存模型与分区路由方案确认", plan=-101, due=-93, done=-93),
        *stage_done("planning", "灰度发布与回滚预案", plan=-92, due=-89, done=-89),
        *stage_done("development", "库存与点单开发", plan=-88, due=-55, done=-57),
        milestone(-56, "it", "多门店联调", "integration_test", -45),
        criterion(-56, "sync", "it", "门店库存同步延迟 ≤ 30 秒", metric("stock_sync_delay_s", "<=", 30, "s")),
        criterion(-56, "idem", "it", "重复支付回调不重复扣库存（幂等）"),
        at(-50, "reject_criterion", criterion_id=Ref("sync"), reason="12 店并发压测延迟 75 秒，消息队列积压。"),
        at(-47, "reschedule_milestone", milestone_id=Ref("it"), due_on=On(-40),
           reason="库存同步改为增量推送，顺延 5 天。"),
        at(-42, "verify_criterion", criterion_id=Ref("sync"), evidence="增量推送后的压测报告", measured=18),
        at(-41, "verify_criterion", criterion_id=Ref("idem"), evidence="重复回调用例 20/20 通过"),
        at(-41, "complete_milestone", milestone_id=Ref("it")),
        at(-41, "transition", to_stage="uat"),
        *stage_done("uat", "门店店长 UAT", plan=-40, due=-32, done=-31),
        milestone(-30, "trial", "4 家门店试运行", "trial", 10),
        criterion(-30, "oversold", "trial", "试点门店超卖订单为 0", metric("oversold_orders", "<=", 0, "单")),
        at(-20, "plan_release", key="r1", version="v2.0", steps=[5, 20, 50, 100],
           health=[check("order_fail_rate", "<=", 0.5), check("stock_sync_delay_s", "<=", 30)]),
        at(-20, "start_release", release_id=Ref("r1")),
        *ramp("r1", start=-19, every=1, readings=[{"order_fail_rate": 0.2, "stock_sync_delay_s": 12}]),
        at(-16, "record_observation", release_id=Ref("r1"), metrics={"order_fail_rate": 0.4, "stock_sync_delay_s": 95}),
        at(-16, "roll_back_release", release_id=Ref("r1"),
           reason="周末高峰分区库存同步延迟 95 秒，两家门店超卖，回滚到 v1。"),
    ],
)

XINGCHI = ProjectScript(
    name="3D 车型展示与试驾预约小程序", client="星驰汽车（昆明经销商集团）", pm="赵磊", started=-32,
    description="品牌互动体验：3D 车型展示带动试驾预约。",
    steps=[
        *scope(-32, ("3D 车型展示", "core"), ("试驾预约", "core"), ("经销商门店导航", "touchpoint"),
               ("车主社区", "value_added")),
        funnel(-30, ("进入车型页", 70), ("查看 3D 展示", 50), ("提交试驾预约", 12)),
        milestone(-30, "research", "竞品体验与试驾转化路径梳理", "research", -16, "竞品对标表", "转化路径图"),
        criterion(-30, "rivals", "research", "完成 5 个头部汽车品牌小程序的竞品对标"),
        criterion(-30, "kpi", "research", "客户确认试驾预约量为核心转化指标"),
        at(-18, "reschedule_milestone", milestone_id=Ref("research"), due_on=On(-8),
           reason="客户品牌部负责人出差，访谈延期。"),
        at(-12, "verify_criterion", criterion_id=Ref("rivals"), evidence="竞品对标表 v1"),
        at(-10, "remove_scope_item", item_id=Ref("车主社区")),
        *scope(-9, ("到店试驾签到", "core")),
    ],
)

HARBOR = ProjectScript(
    name="Shipment exception approvals", client="Harbor Freight Logistics", pm="Daniel Wu", started=-40,
    description="An internal system: exception states, who may approve what, and customs paperwork.",
    steps=[
        *scope(-40, ("Shipment exception workflow", "core"), ("Role-based approval chain", "core"),
               ("Customs document checklist", "core"), ("Email digest for managers", "touchpoint"),
               ("Analytics dashboard", "value_added")),
        *stage_done("research", "Workflow states and role boundaries mapped", plan=-39, due=-28, done=-27,
                    checks=[("Every exception state has an owner role", "State diagram v2 reviewed by ops leads")]),
        milestone(-27, "design", "Permission matrix and data model sign-off", "solution", -20),
        criterion(-27, "matrix", "design", "The ops director signs off the permission matrix"),
        at(-21, "reschedule_milestone", milestone_id=Ref("design"), due_on=On(-14),
           reason="The customs team added two approval roles."),
        at(-15, "reschedule_milestone", milestone_id=Ref("design"), due_on=On(12),
           reason="Data model review moved after the call with the ERP vendor."),
        *scope(-12, ("Customs broker portal access", "touchpoint")),
        at(-10, "remove_scope_item", item_id=Ref("Analytics dashboard")),
    ],
)

LUMEN = ProjectScript(
    name="Website and booking mini-program", client="Lumen Dental Clinics", pm="Sophie Lin", started=-45,
    description="The website serves search visitors, the mini-program booking and reminders: one backend.",
    steps=[
        *scope(-45, ("Clinic and dentist pages", "core"), ("Online booking", "core"),
               ("Booking reminders (WeChat)", "touchpoint"), ("Baidu statistics code", "touchpoint"),
               ("Patient loyalty points", "value_added")),
        funnel(-44, ("Visit a clinic page", 55), ("Open booking", 30), ("Confirm booking", 60)),
        *stage_done("research", "Jobs of the website and the mini-program agreed", plan=-44, due=-35, done=-36),
        *stage_done("solution", "Shared backend and booking flow confirmed", plan=-35, due=-26, done=-25,
                    checks=[("Clinic managers approve the booking flow", "Prototype review notes")]),
        milestone(-24, "plan", "Release plan and clinic roll-out order", "planning", 3),
        milestone(-24, "build", "Booking backend and mini-program build", "development", 40),
        change(-10, "deposit", "Online payment of booking deposits", "Lumen Dental operations", "add", "core",
               days=10, cost=15000),
    ],
)

ACME = ProjectScript(
    name="Order portal modernisation", client="Acme Machinery Parts", pm="Tom Becker", started=-95,
    description="The old dealer order portal still runs but collapses under change: rebuild it on a new order API.",
    steps=[
        *scope(-95, ("Parts catalogue search", "core"), ("Order entry", "core"), ("Order status tracking", "core"),
               ("ERP order export", "touchpoint")),
        *stage_done("research", "What of the old portal can carry change", plan=-94, due=-84, done=-84,
                    checks=[("Assessment of the old data model", "Assessment report")]),
        *stage_done("solution", "Modernisation plan signed off", plan=-83, due=-76, done=-76),
        *stage_done("planning", "Cut-over plan", plan=-75, due=-72, done=-72),
        milestone(-71, "dev", "Portal rebuilt on the new order API", "development", -34),
        change(-65, "csv", "Bulk order upload (CSV)", "Acme dealer council", "add", "core", days=6, cost=9000),
        at(-64, "approve_change_request", change_request_id=Ref("csv")),
        change(-55, "prices", "Customer-specific price lists", "Acme sales", "add", "core", days=8, cost=14000),
        at(-53, "approve_change_request", change_request_id=Ref("prices"), reason="Dealers refuse list prices."),
        change(-50, "realtime", "Real-time ERP order export", "Acme IT", "modify", "core",
               item="ERP order export", days=5, cost=7000),
        at(-48, "approve_change_request", change_request_id=Ref("realtime")),
        at(-45, "implement_change_request", change_request_id=Ref("csv")),
        change(-44, "reorder", "Reorder suggestions", "Acme sales", "add", "value_added", days=6, cost=9500),
        at(-43, "approve_change_request", change_request_id=Ref("reorder"), reason="Sales insists; flagged as drift."),
        at(-40, "implement_change_request", change_request_id=Ref("prices")),
        at(-32, "complete_milestone", milestone_id=Ref("dev")),
        at(-32, "transition", to_stage="integration_test"),
        milestone(-31, "it", "Integration test with the ERP", "integration_test", 9),
        criterion(-31, "export", "it", "Orders reach the ERP within 60 s", metric("export_latency_s", "<=", 60, "s")),
    ],
)

PORTFOLIO: tuple[ProjectScript, ...] = (
    YOUGOU_PHASE_1, YOUGOU_PHASE_2, YOUGOU_PHASE_3, SUIGONG, NORTHWIND_CRM, DIANWEI, HUIWEI, XINGCHI,
    HARBOR, LUMEN, ACME,
)


# ------------------------------------------------------------------ loading


def demo_is_loaded(app: DeliveryApplication) -> bool:
    """True when the store holds any event at all (the demo loads only into an empty store)."""
    return bool(app.recorder.max_notification_id())


def command_count(portfolio: Sequence[ProjectScript] = PORTFOLIO) -> int:
    """How many commands loading the portfolio runs (one per step, plus each project's creation)."""
    return sum(1 + len(p.steps) for p in portfolio)


def load_demo(
    app: DeliveryApplication, progress: Progress | None = None, *,
    now: datetime | None = None, portfolio: Sequence[ProjectScript] = PORTFOLIO,
) -> list[UUID]:
    """Record the portfolio's history in time order, as if it had happened; the projects' ids."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    # Every project's steps, merged into one timeline: the store then reads like a real one,
    # its positions in the order things were recorded. (Index -1 is the project's creation.)
    timeline = sorted(
        (step_day, p_index, s_index)
        for p_index, script in enumerate(portfolio)
        for s_index, step_day in [(-1, script.started), *((i, s.day) for i, s in enumerate(script.steps))]
    )
    ids: list[UUID | None] = [None] * len(portfolio)
    keys: list[dict[str, Any]] = [{} for _ in portfolio]
    total, rank, last_day = len(timeline), 0, None
    for done, (day, p_index, s_index) in enumerate(timeline, start=1):
        if day >= 0:
            raise ValueError(f"demo steps must lie in the past, not on day {day}")
        rank = rank + 1 if day == last_day else 0
        last_day = day
        moment = datetime.combine(today + timedelta(days=day), DAY_START, tzinfo=UTC) + rank * STEP_GAP
        script = portfolio[p_index]
        with clock.frozen_at(moment):
            if s_index < 0:
                ids[p_index] = app.create_project(
                    name=script.name, client=script.client, description=script.description, actor=script.pm,
                ).value
            else:
                step = script.steps[s_index]
                args = {name: _resolve(value, today, keys[p_index]) for name, value in step.args.items()}
                run = getattr(app, step.command)
                result = run(ids[p_index], actor=step.actor or script.pm, **args)
                if step.key is not None:
                    keys[p_index][step.key] = result.value
        if progress is not None:
            progress(done, total)
    return [pid for pid in ids if pid is not None]


def _resolve(value: Any, today: date, keys: dict[str, Any]) -> Any:
    if isinstance(value, On):
        return today + timedelta(days=value.days)
    if isinstance(value, Ref):
        return keys[value.key]
    return value
