"""Service history: contacts, tickets in every W1 state with their SLA clocks and comments,
complaints, tasks the shipped rules would have raised, return visits, survey responses,
unsolicited feedback and recorded customer losses."""

from __future__ import annotations

from datetime import datetime, timedelta

from .content import Shelf
from .customers import Profile
from .market import Market
from .org import Staff
from .run import Run

INTERACTION_FIELDS = ["customer", "employee", "channel", "direction", "purpose", "started_at", "duration_sec", "subject",
                      "summary", "sentiment", "channel_controlled", "outcome"]  # fmt: skip
TICKET_FIELDS = ["ticket_no", "customer", "source_channel", "subject", "description", "category", "subcategory",
                 "classification_confidence", "classified_by", "priority", "status", "customer_visible_status",
                 "assignee", "queue", "org_unit", "owner_manager", "supervisor", "sla_policy", "first_response_due",
                 "resolve_due", "first_responded_at", "resolved_at", "closed_at", "paused_minutes", "escalation_level",
                 "response_breached", "resolution_breached", "reopened_count", "fcr", "resolution_code",
                 "resolution_summary", "suggested_articles", "csat_score", "first_response_minutes",
                 "resolution_minutes"]  # fmt: skip
COMMENT_FIELDS = ["ticket", "author", "author_customer", "visibility", "body", "is_first_response"]
COMPLAINT_FIELDS = ["complaint_no", "customer", "source", "regulator_ref_no", "regulator_due_at", "type", "severity",
                    "handler", "org_unit", "claimed_amount", "description", "received_at", "acknowledged_at",
                    "acknowledgement_channel", "first_contact_at", "due_at", "status", "investigation_summary",
                    "responsibility", "resolution", "compensation_amount", "compliance_reviewed_by",
                    "compliance_reviewed_at", "customer_satisfied", "closed_at", "root_cause"]  # fmt: skip
TASK_FIELDS = ["task_no", "type", "title", "description", "customer", "assignee", "source_rule", "priority", "due_at",
               "status", "outcome_code", "outcome_note", "completed_at", "batch_id", "dedupe_key"]  # fmt: skip
VISIT_FIELDS = ["visit_no", "customer", "type", "account", "complaint", "due_at", "assignee", "attempts", "script",
                "answers", "result", "completed_at"]  # fmt: skip
RESPONSE_FIELDS = ["survey", "customer", "ticket", "sent_at", "responded_at", "csat_score", "nps_score", "nps_group",
                   "loss_reason", "comment", "followup_required"]  # fmt: skip
FEEDBACK_FIELDS = ["customer", "channel", "feedback_type", "content", "related_employee", "status", "response"]
LOSS_FIELDS = ["customer", "loss_type", "detected_on", "assets_before", "assets_after", "destination", "loss_reason",
               "reason_source"]  # fmt: skip

TICKET_STATES = ("new", "assigned", "in_progress", "pending_customer", "pending_internal", "resolved", "closed",
                 "cancelled")  # fmt: skip
COMPLAINT_STATES = ("received", "investigating", "proposal_made", "closed")
WRITE_ORDER = ("interaction", "feedback", "complaint", "service_ticket", "ticket_comment", "task", "return_visit",
               "survey_response", "customer_loss")  # fmt: skip
# category, queue, priority, subjects
TICKET_KINDS = (
    (
        "account_service",
        "manager",
        "P3",
        ("申请重置交易密码", "身份证过期需要更新证件", "手机号变更", "三方存管变更银行"),
    ),
    ("trading_issue", "call_center", "P2", ("APP下单后委托显示废单", "开盘后无法交易，提示登录不了", "撤单一直未成功")),
    ("funds_transfer", "call_center", "P2", ("银证转账转出资金没到账", "入金后可用资金未更新", "出金时间咨询")),
    ("margin", "margin_desk", "P2", ("维持担保比例接近警戒线如何处理", "融资利息计算方式咨询", "追保通知确认")),
    ("fees", "manager", "P3", ("佣金费率咨询", "过户费和印花税扣费明细", "手续费比预期高")),
    ("permissions", "manager", "P3", ("开通科创板权限条件", "创业板权限开通进度", "港股通开通需要什么材料")),
    ("products", "manager", "P3", ("基金赎回到账时间", "收益凭证到期兑付查询", "私募产品冷静期规则")),
    ("ipo", "call_center", "P3", ("新股中签后如何缴款", "打新额度怎么计算")),
    ("statements", "call_center", "P3", ("下载年度对账单", "开具资产证明", "交割单查询")),
    ("suitability", "manager", "P3", ("风险测评过期需要重新测评", "对风险等级结果有疑问")),
    ("app_feedback", "it_support", "P4", ("APP行情页面卡顿", "建议增加条件单功能")),
)
FIRST_RESPONSE = {"P1": 5, "P2": 15, "P3": 15, "P4": 240}  # minutes
RESOLUTION = {"P1": 60, "P2": 120, "P3": 8 * 60, "P4": 3 * 24 * 60}
VISIBLE = {"new": "received", "assigned": "received", "in_progress": "processing", "pending_internal": "processing",
           "pending_customer": "need_info", "resolved": "resolved", "closed": "closed", "cancelled": "closed"}  # fmt: skip
COMPLAINT_TYPES = (("service_attitude", "hotline"), ("fees_commission", "hotline"), ("trading_system_failure", "app_portal"),
                   ("mis_selling_suitability", "csrc_12386"), ("margin_forced_liquidation", "branch"),
                   ("account_service_obstruction", "letter_email"), ("product_performance", "hotline"))  # fmt: skip
LOSS_REASONS = ("commission_fees", "service_quality", "manager_left", "product_performance", "competitor_transfer",
                "app_experience", "life_event", "market_losses", "other")  # fmt: skip


class ServiceGenerator:
    def __init__(self, run: Run, staff: Staff, shelf: Shelf, market: Market):
        self.run, self.staff, self.shelf, self.market = run, staff, shelf, market
        self.w = {
            "interaction": run.writer("interaction", INTERACTION_FIELDS),
            "service_ticket": run.writer("service_ticket", TICKET_FIELDS),
            "ticket_comment": run.writer("ticket_comment", COMMENT_FIELDS),
            "complaint": run.writer("complaint", COMPLAINT_FIELDS),
            "task": run.writer("task", TASK_FIELDS),
            "return_visit": run.writer("return_visit", VISIT_FIELDS),
            "survey_response": run.writer("survey_response", RESPONSE_FIELDS),
            "feedback": run.writer("feedback", FEEDBACK_FIELDS),
            "customer_loss": run.writer("customer_loss", LOSS_FIELDS),
        }
        self.rows: dict[str, list] = {k: [] for k in self.w}
        self.agents = staff.by_role["service_agent"]
        self.visitors = staff.by_role["return_visit_agent"]
        self.compliance = staff.by_role["compliance_officer"]
        self.seen = 0
        recent = run.now - timedelta(days=7)
        self.negative = [
            e
            for e in shelf.events
            if e["sentiment"] == "negative" and e["severity"] >= 2 and e["published_at"] >= recent
        ]
        self.scripts = shelf.articles.get("return_visit_script", [])
        self.faq = shelf.articles.get("faq", [])

    # -- before the customers are written: contacts decide "last contacted" ------------------------
    def prepare(self, rows: list[dict], profiles: list[Profile]) -> None:
        run, rng = self.run, self.run.rng
        for row, p in zip(rows, profiles, strict=True):
            rate = {"mass": 1, "potential": 2, "wealth": 6, "hnw": 20, "uhnw": 36}[p.tier]
            count = min(40, int(rng.expovariate(1 / rate) if rate else 0))
            last = None
            for _ in range(count):
                day = run.today - timedelta(days=rng.randint(0, min(365, max(0, (run.today - p.opened).days))))
                started = run.moment(day, rng, 9, 20)
                channel = rng.choices(("phone_outbound", "phone_inbound", "wechat_work", "visit_branch", "sms",
                                       "app_chat"), (35, 20, 25, 8, 7, 5))[0]  # fmt: skip
                direction = "inbound" if channel in ("phone_inbound", "app_chat", "visit_branch") else "outbound"
                purpose = rng.choices(("care", "service", "consultation", "marketing", "education", "alert_followup"),
                                      (30, 25, 20, 10, 5, 10))[0]  # fmt: skip
                if p.dnd and purpose == "marketing":
                    purpose = "care"
                reached = rng.random() < 0.82
                self.rows["interaction"].append((
                    run.allocate("interaction", 1), p.id, p.manager if direction == "outbound" else rng.choice(self.agents),
                    channel, direction, purpose, started, rng.randint(30, 1200) if channel.startswith("phone") else None,
                    SUBJECTS[purpose], rng.choice(SUMMARIES[purpose]), rng.choices(("positive", "neutral", "negative"), (30, 62, 8))[0],
                    True, "reached" if reached else rng.choice(("not_reached", "callback_requested")),
                ))  # fmt: skip
                if last is None or started > last:
                    last = started
            row["last_contact_at"] = last

    # -- after ------------------------------------------------------------------------------------
    def batch(self, profiles: list[Profile]) -> None:
        rng = self.run.rng
        for p in profiles:
            self.seen += 1
            force = self.seen <= 8  # small demos still show every kind of record
            if force or rng.random() < 0.12:
                # the first customers' tickets walk through every W1 state, so even a small demo shows them all
                self._ticket(p, TICKET_STATES[self.seen - 1] if force else None)
            if force and self.seen <= 4 or rng.random() < 0.0015:
                self._complaint(p, COMPLAINT_STATES[self.seen - 1] if force else None)
            self._tasks(p)
            self._visits(p)
            if rng.random() < 0.05 or force:
                self._nps(p)
            if rng.random() < 0.01 or force and self.seen <= 4:
                self._feedback(p)
            if p.stage in ("closed", "lost") or p.outflow_alert or (force and self.seen <= 2):
                self._loss(p)
        for name in WRITE_ORDER:  # referenced rows first (foreign keys)
            self.w[name].write(self.rows[name])
        self.rows = {k: [] for k in self.w}

    def _ticket(self, p: Profile, state: str | None = None) -> None:
        run, rng = self.run, self.run.rng
        category, queue, priority, subjects = rng.choice(TICKET_KINDS)
        if rng.random() < 0.05:
            priority = "P1"
        created = run.moment(run.today - timedelta(days=int(rng.expovariate(1 / 40)) % 180), rng, 8, 20)
        if state is not None:
            created = run.now - timedelta(hours=rng.randint(2, 20) if state != "closed" else 360)
        tid = run.allocate("service_ticket", 1)
        assignee = p.manager if queue == "manager" else rng.choice(self.agents)
        supervisor = self.staff.supervisor_of.get(assignee)
        fr_due = created + timedelta(minutes=FIRST_RESPONSE[priority])
        res_due = created + timedelta(minutes=RESOLUTION[priority])
        age = run.now - created
        status = (
            "closed"
            if age > timedelta(days=3)
            else rng.choice(
                ("new", "assigned", "in_progress", "pending_customer", "pending_internal", "resolved", "closed")
            )
        )
        if rng.random() < 0.03:
            status = "cancelled"
        if state is not None:
            status = state
        responded = resolved = closed = None
        late = rng.random() < 0.12
        if status not in ("new", "cancelled"):
            responded = created + timedelta(
                minutes=FIRST_RESPONSE[priority] * (rng.uniform(1.2, 4) if late else rng.uniform(0.1, 0.9))
            )
            if status == "assigned":
                responded = None
        if status in ("resolved", "closed"):
            resolved = created + timedelta(
                minutes=RESOLUTION[priority] * (rng.uniform(1.1, 3) if late else rng.uniform(0.2, 0.95))
            )
            resolved = max(resolved, responded or created)
            if status == "closed":
                closed = resolved + timedelta(hours=72)
                if closed > run.now:
                    status, closed = "resolved", None
        if resolved and resolved > run.now:
            resolved = run.now
            closed = None
            status = "resolved"
        reopened = 1 if resolved and rng.random() < 0.05 else 0
        code = rng.choice(("answered", "processed", "referred")) if resolved else None
        csat = None
        if resolved and rng.random() < 0.4:
            csat = rng.choices((5, 4, 3, 2, 1), (55, 25, 10, 6, 4))[0]
        subject = rng.choice(subjects)
        row = ((
            tid, f"SR{created:%Y%m%d}{tid:06d}", p.id, rng.choice(("phone_inbound", "app_chat", "portal", "wechat_work")),
            subject, f"客户反映：{subject}。已核实客户身份，记录诉求并按流程处理。", category, None,
            round(rng.uniform(0.55, 0.98), 4), "rule", priority, status, VISIBLE[status],
            assignee if status != "new" else None, queue, p.branch, p.manager, supervisor, f"{priority}-standard",
            fr_due, res_due, responded, resolved, closed, rng.choice((0, 0, 0, 30, 120)) if resolved else 0,
            (1 if late else 0) if responded else 0, bool(responded and responded > fr_due),
            bool(resolved and resolved > res_due), reopened,
            bool(resolved and not late and not reopened and queue != "ops_back_office"), code,
            f"已{ {'answered': '解答', 'processed': '办理完成', 'referred': '转交后台处理完毕'}.get(code, '') }：{subject}。" if code else None,
            [self.faq[tid % len(self.faq)]] if self.faq else None, csat,
        ))  # fmt: skip
        paused = row[1 + TICKET_FIELDS.index("paused_minutes")]
        self.rows["service_ticket"].append(
            (
                *row,
                round((responded - created).total_seconds() / 60) if responded else None,
                max(0, round((resolved - created).total_seconds() / 60) - paused) if resolved else None,
            )
        )  # calendar minutes: the demo has no business calendar of its own
        if responded:
            self._comment(tid, assignee, False, "customer", "您好，已收到您的问题，正在为您处理。", True)
        if status == "pending_customer" or (resolved and rng.random() < 0.4):
            self._comment(tid, None, True, "customer", "好的，补充材料已上传，请查收。", False)
        if rng.random() < 0.5:
            self._comment(tid, assignee, False, "internal", "已核对账户与委托记录，无异常。", False)
        if csat is not None:
            survey = self.shelf.surveys.get("csat_ticket")
            if survey:
                sent = resolved + timedelta(minutes=10)
                self.rows["survey_response"].append((
                    run.allocate("survey_response", 1), survey, p.id, tid, sent, sent + timedelta(hours=rng.randint(1, 30)),
                    csat, None, None, None, "处理很及时，谢谢。" if csat >= 4 else "等待时间有点长。", csat <= 2,
                ))  # fmt: skip

    def _comment(self, ticket, author, by_customer, visibility, body, first) -> None:
        self.rows["ticket_comment"].append(
            (self.run.allocate("ticket_comment", 1), ticket, author, by_customer, visibility, body, first)
        )

    def _complaint(self, p: Profile, state: str | None = None) -> None:
        run, rng = self.run, self.run.rng
        kind, source = rng.choice(COMPLAINT_TYPES)
        received = run.moment(run.today - timedelta(days=rng.randint(1, 120)), rng)
        cid = run.allocate("complaint", 1)
        regulator = source in ("csrc_12386", "csrc_local_office")
        claimed = rng.choice((None, 5_000, 30_000, 150_000))
        major = regulator or (claimed or 0) >= 100_000
        age = (run.now - received).days
        status = "closed" if age > 20 else rng.choice(("received", "acknowledged", "investigating", "proposal_made"))
        if state is not None:
            status = state
            received = run.now - timedelta(days=25 if state == "closed" else rng.randint(1, 9))
        closed = received + timedelta(days=rng.randint(5, 14)) if status == "closed" else None
        acknowledged = received + timedelta(hours=rng.randint(1, 20)) if status != "received" else None
        self.rows["complaint"].append((
            cid, f"TS{received:%Y%m%d}{cid:05d}", p.id, source, f"12386-{received:%Y}{cid:06d}" if regulator else None,
            received + timedelta(days=10) if regulator else None, kind, "major" if major else "normal",
            self.compliance[0] if major else self.staff.supervisor_of.get(p.manager, self.compliance[0]), p.branch,
            claimed, COMPLAINT_TEXT.get(kind, "客户对服务提出投诉，要求说明情况并妥善处理。"), received, acknowledged,
            "phone" if acknowledged else None, acknowledged + timedelta(hours=4) if acknowledged else None,
            received + timedelta(days=15), status, "已调取录音、委托与适当性记录，核实经过。" if status != "received" else None,
            rng.choice(("firm", "customer", "none", "undetermined")) if closed else None,
            rng.choice(("explained", "corrected")) if closed else None, None,
            self.compliance[-1] if closed else None, closed - timedelta(hours=5) if closed else None,
            rng.random() < 0.7 if closed else None, closed, rng.choice(("process", "communication", "system")) if closed else None,
        ))  # fmt: skip
        if closed:
            self._visit(p, "complaint_followup", closed + timedelta(days=5), complaint=cid)

    def _tasks(self, p: Profile) -> None:
        run, rng = self.run, self.run.rng
        today = run.today
        due = run.now + timedelta(days=5)
        if p.last_trade and (run.trading[-1] - p.last_trade).days > 30 and p.assets >= 10_000 and p.stage == "at_risk":
            self._task(p, "care_call", "休眠关怀：30天未交易客户回访", "ALR_NO_TRADE_30D", "P3", due,
                       f"{p.id}:{p.last_trade}")  # fmt: skip
        if p.outflow_alert:
            self._task(p, "retention", "高净值客户单日资产流出超过30%", "ALR_HNW_OUTFLOW", "P1", run.now + timedelta(hours=1),
                       f"{p.id}:{today}")  # fmt: skip
        if p.birth and 0 <= ((p.birth.replace(year=today.year) if not (p.birth.month == 2 and p.birth.day == 29)
                              else p.birth.replace(year=today.year, day=28)) - today).days <= 3:  # fmt: skip
            self._task(p, "greeting", "生日关怀", "ALR_BIRTHDAY", "P3", due, f"{p.id}:{today.year}")
        if self.negative and p.holdings:
            for event in self.negative:
                if event["security"] in p.holdings:
                    self._task(p, "alert_followup", f"重仓股公告提醒：{event['title'][:60]}", "ALR_NEG_NEWS_HOLDERS", "P2",
                               event["published_at"] + timedelta(hours=2), f"{event['id']}:{p.id}", batch=f"EV{event['id']}")  # fmt: skip
        if rng.random() < 0.15:  # a completed task from the past months
            when = run.now - timedelta(days=rng.randint(5, 150))
            self._task(p, rng.choice(("care_call", "kyc_update", "sales_opportunity", "event_invitation")),
                       "例行客户维护", None, "P3", when, None, done=when - timedelta(days=1))  # fmt: skip

    def _task(self, p, kind, title, rule, priority, due, dedupe, batch=None, done=None) -> None:
        run, rng = self.run, self.run.rng
        tid = run.allocate("task", 1)
        status = "done" if done else rng.choices(("open", "in_progress", "done"), (60, 15, 25))[0]
        completed = done or (run.now - timedelta(hours=rng.randint(1, 48)) if status == "done" else None)
        self.rows["task"].append((
            tid, f"RW{tid:09d}", kind, title, f"规则 {rule} 触发，请按话术跟进并记录结果。" if rule else "客户经理计划内维护。",
            p.id, p.manager, rule, priority, due, status,
            rng.choice(("contacted", "not_reached", "no_action_needed")) if status == "done" else None,
            "已与客户沟通，客户无异议。" if status == "done" else None, completed, batch, dedupe,
        ))  # fmt: skip

    def _visits(self, p: Profile) -> None:
        run, rng = self.run, self.run.rng
        if (run.today - p.opened).days <= 60:
            self._visit(
                p, "new_account", datetime.combine(p.opened, datetime.min.time(), run.now.tzinfo) + timedelta(days=30)
            )
        elif rng.random() < 0.02:
            self._visit(p, "periodic_sample", run.now - timedelta(days=rng.randint(0, 200)))

    def _visit(self, p: Profile, kind: str, due, complaint=None) -> None:
        run, rng = self.run, self.run.rng
        vid = run.allocate("return_visit", 1)
        done = due - timedelta(days=rng.randint(1, 20))
        finished = done <= run.now and rng.random() < 0.9
        visitor = self.visitors[vid % len(self.visitors)]
        result = rng.choices(("confirmed_ok", "unreachable", "abnormal_not_informed", "refused"), (88, 7, 3, 2))[0]
        script = self.scripts[vid % len(self.scripts)] if self.scripts else None
        self.rows["return_visit"].append((
            vid, f"HF{vid:09d}", p.id, kind, p.account, complaint, due, visitor,
            [{"at": done.isoformat(), "channel": "phone", "result": "reached" if result != "unreachable" else "no_answer"}]
            if finished else [], script,
            {"identity_verified": True, "self_opened": True, "password_set_by_self": True} if finished and result == "confirmed_ok" else None,
            result if finished else None, done if finished else None,
        ))  # fmt: skip

    def _nps(self, p: Profile) -> None:
        run, rng = self.run, self.run.rng
        survey = self.shelf.surveys.get("nps_relationship")
        if not survey:
            return
        sent = run.moment(run.today - timedelta(days=rng.randint(1, 90)), rng)
        score = rng.choices(range(11), (2, 1, 1, 2, 2, 4, 6, 12, 20, 25, 25))[0]
        group = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
        self.rows["survey_response"].append((
            run.allocate("survey_response", 1), survey, p.id, None, sent, sent + timedelta(hours=rng.randint(1, 72)),
            None, score, group, None, rng.choice(("客户经理很专业。", "APP还可以更好用。", "希望佣金再优惠一些。", None)),
            score <= 6,
        ))  # fmt: skip

    def _feedback(self, p: Profile) -> None:
        rng = self.run.rng
        kind = rng.choice(("suggestion", "praise", "product_need", "app_issue"))
        self.rows["feedback"].append((
            self.run.allocate("feedback", 1), p.id, rng.choice(("app_chat", "phone_inbound", "wechat_work")), kind,
            {"suggestion": "建议在APP中增加持仓收益分析。", "praise": "表扬客户经理服务耐心细致。",
             "product_need": "希望有更多短期稳健型理财产品。", "app_issue": "APP夜间登录偶尔闪退。"}[kind],
            p.manager if kind == "praise" else None, rng.choice(("new", "reviewed", "adopted")), None,
        ))  # fmt: skip

    def _loss(self, p: Profile) -> None:
        run, rng = self.run, self.run.rng
        kind = "account_closed" if p.stage == "closed" else "asset_flight" if p.outflow_alert else "dormant"
        reason = rng.choice(LOSS_REASONS)
        before = round(
            p.assets * (1.6 if kind == "asset_flight" else 1.0) + (50_000 if kind == "account_closed" else 0), 2
        )
        self.rows["customer_loss"].append((
            run.allocate("customer_loss", 1), p.id, kind, run.today - timedelta(days=rng.randint(0, 60)), before,
            round(p.assets, 2), rng.choice(("competitor_broker", "bank_wmp", "withdrawn_cash", "unknown")), reason,
            rng.choice(("exit_survey", "manager_interview")),
        ))  # fmt: skip

    def finish(self) -> None:
        for name, writer in self.w.items():
            self.run.add(name, writer)


SUBJECTS = {"care": "客户关怀回访", "service": "业务办理咨询", "consultation": "市场与产品咨询", "marketing": "活动邀约",
            "education": "投资者教育", "alert_followup": "预警跟进", "return_visit": "回访", "complaint": "投诉沟通",
            "collection_margin_call": "追保通知"}  # fmt: skip
SUMMARIES = {
    "care": ("近期市场波动较大，关心客户持仓情况，客户表示了解风险。", "节日问候，客户对服务满意。"),
    "service": ("协助客户办理手机号变更，已完成。", "解答银证转账时间规则。", "指导客户在APP完成风险测评。"),
    "consultation": (
        "客户咨询科创板权限开通条件，已告知资产与经验要求。",
        "介绍在售稳健型产品，提示业绩比较基准不代表未来表现。",
    ),
    "marketing": ("邀请客户参加年度投资策略会，客户有意参加。",),
    "education": ("向客户讲解融资融券风险与维持担保比例含义。",),
    "alert_followup": (
        "就持仓股票公告与客户沟通事实情况，未提供买卖建议。",
        "资产流出后回访，客户为家庭购房资金需求。",
    ),
}
COMPLAINT_TEXT = {
    "mis_selling_suitability": "客户称购买产品时未被充分告知风险，产品风险等级高于其风险承受能力，要求说明并处理。",
    "service_attitude": "客户反映电话咨询时坐席态度冷淡，问题未得到解答。",
    "fees_commission": "客户认为佣金收取高于约定费率，要求核查并退还差额。",
    "trading_system_failure": "客户称开盘时APP无法登录导致未能及时卖出，要求赔偿损失。",
    "margin_forced_liquidation": "客户对强制平仓时点与通知方式有异议。",
    "account_service_obstruction": "客户称办理转户时被拖延，要求尽快办理。",
    "product_performance": "客户对所购基金净值下跌不满，要求解释。",
}
