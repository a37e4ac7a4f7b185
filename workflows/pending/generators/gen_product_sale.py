"""Generates workflows/product_sale.json (W3)."""

import json


def L(zh, en):
    return {"zh-CN": zh, "en": en}


def now(field, only_if_null=False):
    a = {"do": "set", "field": field, "value": {"time": "now"}}
    if only_if_null:
        a["only_if_null"] = True
    return a


def is_me(field):
    return {"field": field, "op": "eq", "value": {"ctx": "user.employee"}}


def notify(to, zh, en, channels=("inapp",), **extra):
    return {"do": "notify", "to": to, "channels": list(channels), "subject": L(zh, en), **extra}


SELLER = [{"field": "seller"}]
SELLERS = ["$owner", "$creator"]  # the seller, or whoever keyed in a self-service sale
VISIT_AGENT = {"role": "return_visit_agent", "within": {"field": "customer.servicing_org"}}
NEEDS_REVIEW = {
    "any": [
        {"field": "product_level_at_sale", "op": "eq", "value": "R5"},
        {"field": "amount", "op": "gte", "value": "1000000"},
        {"field": "customer.age", "op": "gte", "value": 65},
    ]
}
NO_COOLING_OFF = {
    "any": [
        {"field": "product.cooling_off_hours", "op": "is_null"},
        {"field": "product.cooling_off_hours", "op": "eq", "value": 0},
    ]
}
NEEDS_REVISIT = {"field": "product.requires_revisit", "op": "eq", "value": True}


VISIT_OK = {"field": "result", "op": "eq", "value": "confirmed_ok"}
VISIT_FAILED = {
    "field": "result",
    "op": "in",
    "value": ["abnormal_staff_misconduct", "abnormal_not_self", "abnormal_not_informed", "unreachable", "refused"],
}


def visit(fn, where):
    """The sale's return visits with ``where``: whether there is one, or the latest one's id."""
    agg = {"agg": fn, "rel": "return_visits", "where": where}
    if fn != "exists":
        agg.update({"of": "id", "order_by": "due_at"})
    return agg


def revisit_visit(kind, when, zh, en):
    return {
        "do": "create_task",
        "entity": "return_visit",
        "when": when,
        "type": kind,
        "assign_to": VISIT_AGENT,
        "due": "P2D",
        "title": L(zh, en),
        "values": {"sale": {"field": "id"}},
    }


states = {
    "draft": {"label": L("草稿", "Draft"), "category": "open"},
    "suitability_check": {"label": L("适当性校验", "Suitability check"), "category": "open"},
    "blocked": {"label": L("已阻断", "Blocked"), "category": "done", "final": True, "editable_fields": []},
    "mismatch_warning": {"label": L("不匹配警示", "Mismatch warning"), "category": "waiting"},
    "customer_insists": {"label": L("客户坚持购买", "Customer insists"), "category": "open"},
    "supervisor_review": {"label": L("主管复核", "Supervisor review"), "category": "open"},
    "disclosure": {"label": L("风险揭示", "Disclosure"), "category": "open"},
    "order_submitted": {"label": L("已下单", "Order submitted"), "category": "waiting"},
    "paid": {"label": L("已缴款", "Paid"), "category": "open"},
    "cooling_off": {"label": L("冷静期", "Cooling-off"), "category": "waiting"},
    "revisit": {
        "label": L("回访确认", "Return visit"),
        "category": "open",
        "on_enter": [
            revisit_visit(
                "private_fund_revisit",
                {"field": "product.product_type", "op": "eq", "value": "private_fund"},
                "私募产品冷静期后回访：销售 {{record.sale_no}}",
                "Private fund return visit after cooling-off: sale {{record.sale_no}}",
            ),
            revisit_visit(
                "high_risk_sale",
                {"field": "product.product_type", "op": "ne", "value": "private_fund"},
                "产品销售回访：销售 {{record.sale_no}}",
                "Return visit for sale {{record.sale_no}}",
            ),
        ],
    },
    "confirmed": {"label": L("已确认", "Confirmed"), "category": "done", "final": True, "editable_fields": []},
    "cancelled": {"label": L("已撤销", "Cancelled"), "category": "done", "final": True, "editable_fields": []},
}

transitions = [
    {
        "name": "submit_check",
        "label": L("提交适当性校验", "Run the suitability check"),
        "from": ["draft"],
        "to": "suitability_check",
        "roles": SELLERS + ["team_lead", "branch_manager"],
        "style": "primary",
    },
    {
        "name": "pass_check",
        "label": L("匹配，进入风险揭示", "Matched: go to disclosure"),
        "from": ["suitability_check"],
        "to": "disclosure",
        "roles": SELLERS + ["team_lead", "branch_manager"],
        "style": "success",
        "guard": {"all": [{"field": "match_result", "op": "eq", "value": "match"}, {"field": "blocked_reason", "op": "is_null"}]},
        "guard_message": L(
            "适当性匹配结果不是“匹配”，不能直接进入风险揭示",
            "The suitability check did not match: the sale cannot go straight to disclosure",
        ),
    },
    {
        "name": "warn_mismatch",
        "label": L("不匹配，出具特别风险警示", "Mismatch: give the special risk warning"),
        "from": ["suitability_check"],
        "to": "mismatch_warning",
        "roles": SELLERS + ["team_lead", "branch_manager"],
        "style": "warning",
        "guard": {
            "all": [
                {"field": "match_result", "op": "eq", "value": "mismatch_overridable"},
                {"field": "initiated_by", "op": "eq", "value": "customer"},
                {"field": "blocked_reason", "op": "is_null"},
            ]
        },
        "guard_message": L(
            "仅客户主动申请、且匹配结果为“不匹配（可坚持购买）”的销售可以出具特别风险警示",
            "Only a customer-initiated sale whose result is “mismatch (customer may insist)” gets the special risk warning",
        ),
    },
    {
        "name": "block",
        "label": L("阻断销售", "Block the sale"),
        "from": ["suitability_check"],
        "to": "blocked",
        "roles": SELLERS + ["team_lead", "branch_manager"],
        "style": "danger",
        "guard": {"field": "blocked_reason", "op": "is_not_null"},
        "guard_message": L("适当性校验没有阻断原因，不能阻断", "The suitability check found no reason to block"),
        "actions": [
            notify(
                SELLER,
                "销售 {{record.sale_no}} 未通过适当性校验，已阻断",
                "Sale {{record.sale_no}} failed the suitability check and is blocked",
            )
        ],
    },
    {
        "name": "customer_insist",
        "label": L("客户坚持购买", "Customer insists"),
        "from": ["mismatch_warning"],
        "to": "customer_insists",
        "roles": SELLERS,
        "input": ["special_warning_doc"],
        "comment": "optional",
        "style": "warning",
        "actions": [now("customer_insists_at")],
    },
    {
        "name": "proceed",
        "label": L("进入风险揭示", "Go to disclosure"),
        "from": ["customer_insists"],
        "to": "disclosure",
        "roles": SELLERS,
        "style": "primary",
        "guard": {"not": NEEDS_REVIEW},
        "guard_message": L(
            "R5 产品、65 岁以上客户或金额 100 万元以上的不匹配销售须先经团队长/营业部负责人复核",
            "Mismatched sales of R5 products, to customers aged 65 or over, or of CNY 1 M or more need a supervisor review first",
        ),
    },
    {
        "name": "request_review",
        "label": L("提交主管复核", "Ask for a supervisor review"),
        "from": ["customer_insists"],
        "to": "supervisor_review",
        "roles": SELLERS,
        "comment": "optional",
        "actions": [
            notify(
                [{"field": "seller.supervisor"}, {"role": "branch_manager", "within": {"field": "seller.org_unit"}}],
                "不匹配销售 {{record.sale_no}} 待您复核（4 个工作小时内）",
                "Mismatched sale {{record.sale_no}} waits for your review (within 4 working hours)",
            )
        ],
    },
    {
        "name": "approve_review",
        "label": L("复核通过", "Approve"),
        "from": ["supervisor_review"],
        "to": "disclosure",
        "roles": ["team_lead", "branch_manager"],
        "allow_self_approval": False,
        "input": ["supervisor_review_by"],
        "guard": is_me("supervisor_review_by"),
        "guard_message": L("复核人须为您本人", "You must sign the review as yourself"),
        "comment": "optional",
        "style": "success",
        "actions": [now("supervisor_review_at")],
    },
    {
        "name": "reject_review",
        "label": L("复核不通过", "Reject"),
        "from": ["supervisor_review"],
        "to": "cancelled",
        "roles": ["team_lead", "branch_manager"],
        "allow_self_approval": False,
        "comment": "required",
        "style": "danger",
        "actions": [
            {"do": "set", "field": "cancel_reason", "value": "suitability_block"},
            notify(SELLER, "不匹配销售 {{record.sale_no}} 复核未通过，已撤销", "Sale {{record.sale_no}} failed the supervisor review and is cancelled"),
        ],
    },
    {
        "name": "compliance_approve",
        "label": L("合规审批", "Compliance approval"),
        "from": ["customer_insists", "supervisor_review", "disclosure"],
        "to": "$same",
        "roles": ["compliance_officer"],
        "allow_self_approval": False,
        "input": ["compliance_approved_by", "compliance_opinion"],
        "guard": {
            "all": [
                {"field": "match_result", "op": "eq", "value": "mismatch_overridable"},
                {"field": "compliance_approved_at", "op": "is_null"},
                is_me("compliance_approved_by"),
            ]
        },
        "guard_message": L(
            "仅未经审批的不匹配销售需要合规审批，且审批人须为您本人",
            "Only a mismatched sale not yet approved needs compliance approval, and you must sign it as yourself",
        ),
        "actions": [now("compliance_approved_at")],
    },
    {
        "name": "submit_order",
        "label": L("确认风险揭示并下单", "Disclosure acknowledged: place the order"),
        "from": ["disclosure"],
        "to": "order_submitted",
        "roles": SELLERS,
        "style": "primary",
        "guard": {
            "any": [
                {
                    "all": [
                        {"field": "channel", "op": "in", "value": ["counter", "phone_assisted"]},
                        {"field": "recording", "op": "is_not_empty"},
                    ]
                },
                {
                    "all": [
                        {"field": "channel", "op": "in", "value": ["app", "web"]},
                        {"field": "e_signature", "op": "is_not_empty"},
                    ]
                },
            ]
        },
        "guard_message": L(
            "下单前须留存客户确认风险揭示的凭证：临柜/电话渠道上传双录记录，APP/网上渠道完成电子签名",
            "Before the order the customer's acknowledgement must be on file: the audio/video recording at the counter or on the phone, the e-signature in the app or on the web",
        ),
        "actions": [now("disclosure_ack_at", only_if_null=True)],
    },
    {
        "name": "record_payment",
        "label": L("确认缴款", "Payment received"),
        "from": ["order_submitted"],
        "to": "paid",
        "roles": SELLERS + ["branch_manager"],
        "guard": {"field": "paid_at", "op": "is_not_null"},
        "guard_message": L(
            "尚未收到缴款/清算数据（缴款时间为空）",
            "No payment has arrived from the settlement feed yet (paid at is empty)",
        ),
    },
    {
        "name": "start_cooling_off",
        "label": L("进入冷静期", "Start the cooling-off period"),
        "from": ["paid"],
        "to": "cooling_off",
        "roles": SELLERS + ["branch_manager"],
        "guard": {
            "all": [
                {"field": "product.cooling_off_hours", "op": "gt", "value": 0},
                {"field": "cooling_off_until", "op": "is_not_null"},
            ]
        },
        "guard_message": L(
            "该产品没有冷静期，或缴款数据尚未写入冷静期截止时间",
            "The product has no cooling-off period, or the payment feed has not set its end yet",
        ),
    },
    {
        "name": "end_cooling_off",
        "label": L("冷静期结束，安排回访", "Cooling-off over: return visit"),
        "from": ["cooling_off"],
        "to": "revisit",
        "roles": ["service_agent", "service_supervisor", "branch_manager"],
        "trigger": {"after": "PT24H", "since": "state_entered"},
        "guard": {"field": "cooling_off_until", "op": "lte", "value": {"time": "now"}},
        "guard_message": L("冷静期尚未结束", "The cooling-off period has not ended yet"),
    },
    {
        "name": "request_revisit",
        "label": L("安排回访", "Arrange the return visit"),
        "from": ["paid"],
        "to": "revisit",
        "roles": SELLERS + ["branch_manager"],
        "guard": {"all": [NO_COOLING_OFF, NEEDS_REVISIT]},
        "guard_message": L(
            "仅无冷静期、但须回访确认的产品直接安排回访",
            "Only products that need a return visit but have no cooling-off period go straight to the visit",
        ),
    },
    {
        "name": "confirm",
        "label": L("确认成交", "Confirm"),
        "from": ["paid"],
        "to": "confirmed",
        "roles": SELLERS + ["branch_manager"],
        "style": "success",
        "guard": {"all": [NO_COOLING_OFF, {"not": NEEDS_REVISIT}]},
        "guard_message": L(
            "有冷静期或须回访的产品须经冷静期和回访确认后方可确认",
            "Products with a cooling-off period or a return visit are confirmed only after them",
        ),
        "actions": [
            revisit_visit(
                "high_risk_sale",
                {"use": "high_risk_to_ordinary"},
                "高风险产品销售回访：销售 {{record.sale_no}}",
                "Return visit for the high-risk sale {{record.sale_no}}",
            )
        ],
    },
    {
        "name": "revisit_ok",
        "label": L("回访确认无误", "Return visit confirmed"),
        "from": ["revisit"],
        "to": "confirmed",
        "roles": ["service_agent", "service_supervisor"],
        "style": "success",
        "guard": {"expr": visit("exists", VISIT_OK), "op": "eq", "value": True},
        "guard_message": L(
            "尚无结果为“确认无误”的回访记录",
            "No return visit of this sale has the result “confirmed” yet",
        ),
        "actions": [{"do": "set", "field": "revisit", "value": visit("last", VISIT_OK)}],
    },
    {
        "name": "revisit_failed",
        "label": L("回访异常，撤销", "Return visit failed: cancel"),
        "from": ["revisit"],
        "to": "cancelled",
        "roles": ["service_agent", "service_supervisor"],
        "comment": "required",
        "style": "danger",
        "guard": {"expr": visit("exists", VISIT_FAILED), "op": "eq", "value": True},
        "guard_message": L(
            "尚无结果为异常、联系不上或拒绝回访的回访记录",
            "No return visit of this sale is abnormal, unreachable or refused",
        ),
        "actions": [
            {"do": "set", "field": "revisit", "value": visit("last", VISIT_FAILED)},
            {"do": "set", "field": "cancel_reason", "value": "revisit_failed"},
            notify(
                SELLER + [{"role": "compliance_officer", "within": {"field": "customer.servicing_org"}}],
                "销售 {{record.sale_no}} 回访异常，已撤销并按合同退款",
                "Sale {{record.sale_no}} failed its return visit: cancelled, refund per contract",
            ),
        ],
    },
    {
        "name": "cancel",
        "label": L("撤销", "Cancel"),
        "from": ["draft", "mismatch_warning", "customer_insists", "disclosure", "order_submitted", "cooling_off", "revisit"],
        "to": "cancelled",
        "roles": SELLERS + ["team_lead", "branch_manager"],
        "input": ["cancel_reason"],
        "comment": "optional",
        "style": "secondary",
    },
]

slas = [
    {
        "name": "supervisor_review",
        "label": L("主管复核", "Supervisor review"),
        "start": {"on": "state", "state": "supervisor_review"},
        "stop": {"on_transition": ["approve_review", "reject_review"]},
        "calendar": "service_hours",
        "target": {"default": "PT4H"},
        "escalations": [
            {
                "at": "100%",
                "actions": [
                    notify(
                        [{"role": "branch_manager", "within": {"field": "seller.org_unit"}}],
                        "【超时】不匹配销售 {{record.sale_no}} 超过 4 个工作小时未复核",
                        "[Overdue] mismatched sale {{record.sale_no}} has waited over 4 working hours for its review",
                    )
                ],
            }
        ],
    }
]

doc = {
    "kind": "workflow",
    "name": "product_sale",
    "label": L("产品销售适当性流程", "Product sale with suitability check"),
    "description": L(
        "W3：草稿 → 适当性校验 → 阻断 / 风险揭示（匹配）/ 不匹配警示（客户主动）→ 客户坚持购买 →"
        "（R5、65 岁以上或 100 万元以上须主管复核）→ 风险揭示 → 下单（双录或电子签名）→ 缴款 →（冷静期 → 回访）→ 确认；"
        "不匹配销售下单前须经合规审批。",
        "W3: draft → suitability check → blocked / disclosure (match) / mismatch warning (customer-initiated) → customer "
        "insists → (supervisor review for R5, customers aged 65+ or CNY 1 M+) → disclosure → order (recording or "
        "e-signature) → paid → (cooling-off → return visit) → confirmed; a mismatched sale needs compliance approval "
        "before the order.",
    ),
    "entity": "product_sale",
    "state_field": "status",
    "initial": "draft",
    "calendars": {
        "service_hours": {
            "tz": "Asia/Shanghai",
            "weekly": {"mon-fri": [["08:30", "17:30"]]},
            "holidays": "cn_public_holidays",
        }
    },
    "states": states,
    "transitions": transitions,
    "slas": slas,
}

json.dump(doc, open("/work/main/workflows/product_sale.json", "w"), ensure_ascii=False, indent=1)
