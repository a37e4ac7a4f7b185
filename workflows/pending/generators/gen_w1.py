import json
def L(zh, en): return {"zh-CN": zh, "en": en}
def kw(spec):
    out = {}
    for k in spec.split(","):
        k = k.strip()
        if k.endswith("×2"): out[k[:-2]] = 2
        else: out[k] = 1
    return out
cats = {
 "account_service": ("开户, 销户×2, 转户×2, 转托管×2, 撤销指定, 密码, 重置, 挂失, 冻结, 解冻, 证件, 身份证过期, 手机号变更, 地址变更, 三方存管, 变更银行", "P3", "manager", None),
 "trading_issue": ("下单, 委托, 撤单, 废单, 成交, 无法交易×2, 买不了, 卖不了×2, 闪退, 卡顿, 登录不了×2, 行情延迟, 交易软件, 报错", "P2", "call_center", {"keywords": ["无法交易", "卖不了", "登录不了"], "priority": "P1", "during": "trading_session"}),
 "funds_transfer": ("转账, 银证转账, 出金, 入金, 到账×2, 没到账×2, 可取, 资金不见×2, 划转, 冻结资金", "P2", "call_center", {"keywords": ["资金不见"], "priority": "P1"}),
 "margin": ("融资, 融券, 两融, 担保比例×2, 平仓×2, 追保×2, 授信, 利息, 负债, 强平×2", "P2", "margin_desk", {"keywords": ["平仓", "强平"], "priority": "P1", "during": "trading_session"}),
 "fees": ("佣金×2, 手续费, 费率, 印花税, 过户费, 收费, 扣费, 万分之", "P3", "manager", None),
 "permissions": ("创业板, 科创板, 北交所, 港股通, 期权, 可转债, 退市整理, 风险警示, 开通权限×2, 适当性", "P3", "manager", None),
 "products": ("基金, 理财, 收益凭证, 私募, 资管, 申购, 赎回, 净值, 分红, 到期, 冷静期", "P3", "manager", None),
 "ipo": ("打新, 新股, 中签, 缴款, 配号, 新债", "P3", "call_center", None),
 "statements": ("对账单, 账单, 流水, 持仓, 成本价, 资产证明×2, 交割单, 盈亏", "P3", "call_center", None),
 "suitability": ("风险测评×2, 风险等级, 问卷, 专业投资者×2, 测评过期", "P3", "manager", None),
 "app_feedback": ("APP, 界面, 功能, 建议, 优化, bug", "P4", "it_support", None),
}
categories = {}
for name, (k, p, q, urgent) in cats.items():
    c = {"keywords": kw(k), "priority": p, "queue": q}
    if urgent: c["urgent"] = urgent
    categories[name] = c
notify_lead = {"do": "notify", "to": [{"role": "team_leader", "within": {"field": "org_unit"}}], "channels": ["inapp"],
               "subject": L("投诉信号：工单 {{record.ticket_no}} 含投诉关键词，请关注是否转投诉", "Complaint signal on ticket {{record.ticket_no}}: consider converting it to a complaint")}
notify_fraud = {"do": "notify", "to": [{"role": "compliance_officer", "within": {"field": "org_unit"}}, {"role": "branch_manager", "within": {"field": "org_unit"}}],
                "channels": ["inapp", "sms"], "template": "fraud_signal",
                "subject": L("诈骗/安全信号：工单 {{record.ticket_no}}，请立即核查", "Fraud/security signal on ticket {{record.ticket_no}}: check now"),
                "params": {"ticket": "{{record.ticket_no}}"}}
overlays = {
 "complaint_signal": {"keywords": kw("投诉×2, 12386×2, 证监会×2, 证监局, 举报, 曝光, 媒体, 律师, 起诉, 仲裁, 欺骗, 误导×2, 承诺收益, 代客操作×2, 赔偿"), "raise": 1, "actions": [notify_lead]},
 "fraud_signal": {"keywords": kw("被盗×2, 盗买盗卖×2, 诈骗×2, 冒充, 陌生人, 验证码, 远程控制, 屏幕共享"), "priority": "P1", "queue": "call_center", "actions": [notify_fraud]},
}
OPEN_STATES = ["new", "assigned", "in_progress", "pending_customer", "pending_internal"]
notify_assignee = lambda zh, en: {"do": "notify", "to": [{"field": "assignee"}], "channels": ["inapp"], "subject": L(zh, en)}
sup = [{"field": "assignee.supervisor"}, {"role": "team_leader", "within": {"field": "org_unit"}}]
doc = {
 "kind": "workflow", "name": "service_ticket",
 "label": L("服务工单流程", "Service ticket workflow"),
 "description": L("W1：受理 → 分派 → 处理 → 解决 → 关闭；自动分类与路由，首次响应与解决时效按服务日历计时，超时逐级升级。",
                  "W1: received → assigned → in progress → resolved → closed; auto-classification and routing, first-response and resolution SLAs on the service calendar with an escalation ladder."),
 "entity": "service_ticket", "state_field": "status", "initial": "new",
 "numbering": {"field": "ticket_no", "prefix": "SR", "digits": 4},
 "calendars": {
   "service_hours": {"tz": "Asia/Shanghai", "weekly": {"mon-fri": [["08:30", "17:30"]]}, "holidays": "cn_public_holidays"},
   "round_the_clock": {"tz": "Asia/Shanghai", "weekly": {"mon-sun": [["00:00", "24:00"]]}},
   "trading_session": {"tz": "Asia/Shanghai", "weekly": {"mon-fri": [["09:30", "11:30"], ["13:00", "15:00"]]}, "holidays": "sse_trading_days"}
 },
 "classification": {
   "text": {"subject": 2, "description": 1}, "threshold": 2,
   "category_field": "category", "priority_field": "priority", "queue_field": "queue",
   "confidence_field": "classification_confidence", "by_field": "classified_by",
   "fallback": {"category": "other", "queue": "call_center"},
   "priorities": ["P1", "P2", "P3", "P4"],
   "categories": categories, "overlays": overlays
 },
 "routing": {
   "assignee_field": "assignee", "queue_field": "queue", "unit_field": "org_unit",
   "prefer": [{"when": {"field": "queue", "op": "eq", "value": "manager"}, "to": {"field": "customer.primary_manager"}}],
   "pools": {q: {"roles": ["service_agent"], "strategy": "round_robin" if q != "call_center" else "least_busy"}
             for q in ["manager", "call_center", "ops_back_office", "margin_desk", "it_support", "compliance"]},
   "default_pool": "call_center",
   "transition": "route"
 },
 "public_status": {"enabled": True, "status_field": "customer_visible_status", "comments": "comments", "due_field": "resolve_due",
                   "fields": ["ticket_no", "category", "priority", "created_at"], "reply_event": "ticket.customer_reply"},
 "states": {
   "new": {"label": L("新建", "New"), "category": "open", "customer_status": "received"},
   "assigned": {"label": L("已分派", "Assigned"), "category": "open", "customer_status": "received"},
   "in_progress": {"label": L("处理中", "In progress"), "category": "open", "customer_status": "processing"},
   "pending_customer": {"label": L("待客户补充", "Pending customer"), "category": "waiting", "customer_status": "need_info"},
   "pending_internal": {"label": L("待内部处理", "Pending internal"), "category": "open", "customer_status": "processing"},
   "resolved": {"label": L("已解决", "Resolved"), "category": "done", "customer_status": "resolved", "editable_fields": ["resolution_summary"]},
   "closed": {"label": L("已关闭", "Closed"), "category": "done", "final": True, "customer_status": "closed", "editable_fields": []},
   "cancelled": {"label": L("已取消", "Cancelled"), "category": "done", "final": True, "customer_status": "closed", "editable_fields": []}
 },
 "transitions": [
   {"name": "route", "label": L("自动分派", "Auto-route"), "from": ["new"], "to": "assigned", "trigger": {"event": "ticket.routed"}},
   {"name": "assign", "label": L("分派", "Assign"), "from": ["new", "assigned"], "to": "assigned",
    "roles": ["service_supervisor", "team_lead", "service_agent"], "input": ["assignee"], "style": "primary",
    "guard": {"field": "assignee", "op": "is_not_null"}, "guard_message": L("请选择处理人", "Choose who handles the ticket"),
    "actions": [notify_assignee("工单 {{record.ticket_no}} 已分派给您：{{record.subject}}", "Ticket {{record.ticket_no}} is assigned to you: {{record.subject}}")]},
   {"name": "start", "label": L("开始处理", "Start"), "from": ["assigned"], "to": "in_progress", "roles": ["$assignee"], "style": "primary",
    "actions": [{"do": "set", "field": "first_responded_at", "value": {"time": "now"}, "only_if_null": True}]},
   {"name": "request_info", "label": L("请客户补充", "Ask the customer"), "from": ["in_progress"], "to": "pending_customer", "roles": ["$assignee"], "comment": "required"},
   {"name": "customer_replied", "label": L("客户已回复", "Customer replied"), "from": ["pending_customer"], "to": "in_progress", "roles": ["$assignee"],
    "trigger": {"event": "ticket.customer_reply"}},
   {"name": "refer_internal", "label": L("转后台处理", "Refer to back office"), "from": ["in_progress"], "to": "pending_internal", "roles": ["$assignee"], "comment": "required"},
   {"name": "internal_done", "label": L("后台已处理", "Back office done"), "from": ["pending_internal"], "to": "in_progress", "roles": ["$assignee", "service_agent"]},
   {"name": "reassign", "label": L("转派", "Reassign"), "from": ["assigned", "in_progress", "pending_customer", "pending_internal"], "to": "$same",
    "roles": ["team_lead", "service_supervisor", "branch_manager", "$assignee"], "input": ["assignee"], "comment": "required",
    "actions": [notify_assignee("工单 {{record.ticket_no}} 已转派给您：{{record.subject}}", "Ticket {{record.ticket_no}} was reassigned to you: {{record.subject}}")]},
   {"name": "resolve", "label": L("解决", "Resolve"), "from": ["in_progress", "pending_internal"], "to": "resolved", "roles": ["$assignee"], "style": "success",
    "input": ["resolution_code", "resolution_summary"],
    "guard": {"field": "resolution_code", "op": "ne", "value": "converted_to_complaint"},
    "guard_message": L("转投诉请使用“转投诉”操作", "Use “Convert to complaint” for complaints"),
    "actions": [{"do": "set", "field": "resolved_at", "value": {"time": "now"}},
                {"do": "set", "field": "first_responded_at", "value": {"time": "now"}, "only_if_null": True},
                {"do": "set", "field": "fcr", "value": True, "when": {"field": "reopened_count", "op": "eq", "value": 0}},
                {"do": "set", "field": "fcr", "value": False, "when": {"field": "reopened_count", "op": "gt", "value": 0}},
                {"do": "send_survey", "survey": "csat_ticket", "to": {"field": "customer"}, "delay": "PT1H"}]},
   {"name": "convert_to_complaint", "label": L("转投诉", "Convert to complaint"), "from": ["in_progress", "pending_internal"], "to": "resolved",
    "roles": ["$assignee", "team_lead"], "input": ["resolution_summary"], "style": "danger",
    "guard": {"field": "customer", "op": "is_not_null"}, "guard_message": L("匿名工单不能转投诉，请先关联客户", "Link the customer before converting to a complaint"),
    "actions": [{"do": "set", "field": "resolution_code", "value": "converted_to_complaint"},
                {"do": "set", "field": "resolved_at", "value": {"time": "now"}},
                {"do": "set", "field": "fcr", "value": False},
                {"do": "start_workflow", "workflow": "complaint", "link": "complaint",
                 "values": {"customer": {"field": "customer"}, "source": "hotline", "type": "other", "org_unit": {"field": "org_unit"},
                            "description": {"field": "description"}, "received_at": {"time": "now"}}}]},
   {"name": "reopen", "label": L("重开", "Reopen"), "from": ["resolved"], "to": "in_progress", "roles": ["$assignee", "team_lead", "service_supervisor"],
    "guard": {"field": "resolved_at", "op": "gte", "value": {"time": "now-7d"}},
    "guard_message": L("解决超过 7 天的工单不能重开，请新建工单", "Tickets resolved more than 7 days ago cannot be reopened; open a new one"),
    "comment": "required",
    "actions": [{"do": "set", "field": "reopened_count", "value": {"calc": "add", "args": [{"field": "reopened_count"}, 1]}},
                {"do": "set", "field": "fcr", "value": False}]},
   {"name": "customer_reopen", "label": L("客户重开", "Reopened by customer"), "from": ["resolved"], "to": "in_progress", "trigger": {"event": "ticket.customer_reopen"},
    "guard": {"field": "resolved_at", "op": "gte", "value": {"time": "now-7d"}},
    "actions": [{"do": "set", "field": "reopened_count", "value": {"calc": "add", "args": [{"field": "reopened_count"}, 1]}},
                {"do": "set", "field": "fcr", "value": False},
                notify_assignee("客户重开了工单 {{record.ticket_no}}", "The customer reopened ticket {{record.ticket_no}}")]},
   {"name": "close", "label": L("关闭", "Close"), "from": ["resolved"], "to": "closed", "roles": ["service_supervisor", "team_lead"], "allow_self_approval": False,
    "actions": [{"do": "set", "field": "closed_at", "value": {"time": "now"}}]},
   {"name": "customer_confirm", "label": L("客户确认", "Confirmed by customer"), "from": ["resolved"], "to": "closed", "trigger": {"event": "ticket.customer_confirm"},
    "actions": [{"do": "set", "field": "closed_at", "value": {"time": "now"}}]},
   {"name": "auto_close", "label": L("自动关闭", "Auto-close"), "from": ["resolved"], "to": "closed", "trigger": {"after": "PT72H", "since": "state_entered"},
    "actions": [{"do": "set", "field": "closed_at", "value": {"time": "now"}}]},
   {"name": "close_no_reply", "label": L("客户未回复关闭", "Closed without reply"), "from": ["pending_customer"], "to": "closed",
    "trigger": {"after": "P7D", "since": "state_entered"},
    "actions": [{"do": "set", "field": "resolution_code", "value": "customer_withdrew"},
                {"do": "set", "field": "resolution_summary", "value": "客户 7 天内未补充信息，工单自动关闭；如仍需帮助请重新提交。"},
                {"do": "set", "field": "closed_at", "value": {"time": "now"}}]},
   {"name": "cancel", "label": L("取消", "Cancel"), "from": ["new", "assigned"], "to": "cancelled", "roles": ["team_lead", "service_supervisor"], "comment": "required", "style": "secondary",
    "actions": [{"do": "set", "field": "closed_at", "value": {"time": "now"}}]}
 ],
 "slas": [
   {"name": "first_response", "label": L("首次响应", "First response"),
    "start": {"on": "created"}, "stop": {"on_transition": ["start", "resolve", "convert_to_complaint", "cancel"]},
    "calendar": "service_hours", "record_due_to": "first_response_due", "record_breach_to": "response_breached",
    "target": {"cases": [{"when": {"field": "priority", "op": "eq", "value": "P1"}, "duration": "PT5M", "calendar": "round_the_clock"},
                         {"when": {"field": "priority", "op": "eq", "value": "P4"}, "duration": "PT4H"}],
               "default": "PT15M", "on_change": "retarget"},
    "escalations": [
      {"at": "75%", "actions": [notify_assignee("工单 {{record.ticket_no}} 即将超过首次响应时限（{{record.first_response_due|datetime}}）", "Ticket {{record.ticket_no}} is about to miss its first-response time ({{record.first_response_due|datetime}})")]},
      {"at": "100%", "actions": [{"do": "set", "field": "escalation_level", "value": 1},
                                 {"do": "set", "field": "supervisor", "value": {"field": "assignee.supervisor"}, "only_if_null": True},
                                 notify_assignee("工单 {{record.ticket_no}} 首次响应已超时，已升级督办", "Ticket {{record.ticket_no}} missed its first response and was escalated"),
                                 {"do": "notify", "to": sup, "channels": ["inapp", "sms"], "template": "sla_breached",
                                  "params": {"ticket": "{{record.ticket_no}}", "sla": "首次响应"},
                                  "subject": L("【超时升级】工单 {{record.ticket_no}} 首次响应超时", "[Escalated] ticket {{record.ticket_no}} missed its first response")}]}]},
   {"name": "resolution", "label": L("解决时效", "Resolution"),
    "start": {"on": "created"}, "stop": {"on_state": ["resolved", "closed", "cancelled"]}, "pause_in": ["pending_customer"],
    "calendar": "service_hours", "record_due_to": "resolve_due", "record_breach_to": "resolution_breached",
    "target": {"cases": [{"when": {"field": "priority", "op": "eq", "value": "P1"}, "duration": "PT1H", "calendar": "round_the_clock"},
                         {"when": {"field": "priority", "op": "eq", "value": "P3"}, "duration": "P1D"},
                         {"when": {"field": "priority", "op": "eq", "value": "P4"}, "duration": "P3D"}],
               "default": "PT2H", "on_change": "retarget"},
    "escalations": [
      {"at": "80%", "actions": [notify_assignee("工单 {{record.ticket_no}} 已用去 80% 解决时限（{{record.resolve_due|datetime}} 到期）", "Ticket {{record.ticket_no}} has used 80% of its resolution time (due {{record.resolve_due|datetime}})")]},
      {"at": "100%", "actions": [{"do": "set", "field": "escalation_level", "value": 1},
                                 {"do": "notify", "to": sup, "channels": ["inapp", "sms"], "template": "sla_breached",
                                  "params": {"ticket": "{{record.ticket_no}}", "sla": "解决时效"},
                                  "subject": L("【超时升级】工单 {{record.ticket_no}} 解决超时", "[Escalated] ticket {{record.ticket_no}} missed its resolution time")}]},
      {"at": "200%", "actions": [{"do": "set", "field": "escalation_level", "value": 2},
                                 {"do": "notify", "to": [{"role": "branch_manager", "within": {"field": "org_unit"}}], "channels": ["inapp", "sms"], "template": "sla_breached_l2",
                                  "params": {"ticket": "{{record.ticket_no}}"},
                                  "subject": L("【二级升级】工单 {{record.ticket_no}} 已超过两倍解决时限", "[Level 2] ticket {{record.ticket_no}} is past twice its resolution time")}]},
      {"at": "400%", "actions": [{"do": "set", "field": "escalation_level", "value": 3},
                                 {"do": "notify", "to": [{"role": "hq_operations", "within": {"field": "org_unit"}}], "channels": ["inapp", "sms"], "template": "sla_breached_l3",
                                  "params": {"ticket": "{{record.ticket_no}}"},
                                  "subject": L("【三级升级】工单 {{record.ticket_no}} 已超过四倍解决时限", "[Level 3] ticket {{record.ticket_no}} is past four times its resolution time")}]}]}
 ]
}
json.dump(doc, open("/work/main/workflows/service_ticket.json", "w"), ensure_ascii=False, indent=1)
