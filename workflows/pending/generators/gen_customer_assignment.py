"""Generates workflows/customer_assignment.json (W4)."""

import json


def L(zh, en):
    return {"zh-CN": zh, "en": en}


def notify(to, zh, en, channels=("inapp",), **extra):
    return {"do": "notify", "to": to, "channels": list(channels), "subject": L(zh, en), **extra}


RECEIVER = [{"field": "employee"}]
OWNER = [{"field": "customer.primary_manager"}]
TEAM_LEADER = [{"role": "team_leader", "within": {"field": "employee.org_unit"}}]
BRANCH_MANAGER = [{"role": "branch_manager", "within": {"field": "customer.servicing_org"}}]
REQUESTERS = ["$creator", "team_lead", "branch_manager"]
APPROVERS = ["team_lead", "branch_manager"]
OWNER_ACTIVE = {"field": "customer.primary_manager.status", "op": "in", "value": ["active", "on_leave"]}
IS_OWNER = {"field": "customer.primary_manager", "op": "eq", "value": {"ctx": "user.employee"}}
OWNER_GUARD_MESSAGE = L("只有客户当前的服务人可以确认", "Only the customer's current servicer can confirm")

states = {
    "requested": {"label": L("已申请", "Requested"), "category": "open"},
    "owner_confirm": {"label": L("原服务人确认", "Owner to confirm"), "category": "waiting"},
    "approval": {
        "label": L("审批中", "In approval"),
        "category": "open",
        "on_enter": [
            notify(
                TEAM_LEADER + BRANCH_MANAGER,
                "客户归属变更 {{record.display_name}} 待您审批（3 个工作日内）",
                "Customer assignment {{record.display_name}} waits for your approval (within 3 working days)",
            )
        ],
    },
    "effective": {"label": L("已生效", "Effective"), "category": "open", "editable_fields": ["valid_to"]},
    "customer_notified": {
        "label": L("已通知客户", "Customer notified"),
        "category": "done",
        "final": True,
        "editable_fields": ["valid_to"],
    },
    "rejected": {"label": L("已驳回", "Rejected"), "category": "done", "final": True, "editable_fields": []},
    "withdrawn": {"label": L("已撤回", "Withdrawn"), "category": "done", "final": True, "editable_fields": []},
}

transitions = [
    {
        "name": "ask_owner",
        "label": L("提交原服务人确认", "Ask the current servicer"),
        "from": ["requested"],
        "to": "owner_confirm",
        "roles": REQUESTERS,
        "input": ["request_type"],
        "style": "primary",
        "guard": {"all": [{"field": "request_type", "op": "ne", "value": "customer_request"}, OWNER_ACTIVE]},
        "guard_message": L(
            "客户申请更换、无原服务人或原服务人离职中/已离职时无需原服务人确认，请直接提交审批",
            "Customer requests, and customers whose servicer is missing, resigning or gone, go straight to approval",
        ),
        "actions": [
            notify(
                OWNER,
                "客户归属变更 {{record.display_name}} 待您确认",
                "Customer assignment {{record.display_name}} waits for your confirmation",
            )
        ],
    },
    {
        "name": "skip_owner",
        "label": L("直接提交审批", "Submit for approval"),
        "from": ["requested"],
        "to": "approval",
        "roles": REQUESTERS,
        "input": ["request_type"],
        "comment": "optional",
        "guard": {
            "any": [
                {"field": "request_type", "op": "eq", "value": "customer_request"},
                {"field": "customer.primary_manager", "op": "is_null"},
                {"field": "customer.primary_manager.status", "op": "in", "value": ["resigning", "left"]},
            ]
        },
        "guard_message": L(
            "须先由原服务人确认；仅客户申请更换或原服务人离职时可直接提交审批",
            "The current servicer confirms first; only customer requests and departing servicers skip that step",
        ),
    },
    {
        "name": "owner_agree",
        "label": L("原服务人同意", "Servicer agrees"),
        "from": ["owner_confirm"],
        "to": "approval",
        "roles": ["account_manager", "team_lead", "branch_manager"],
        "style": "success",
        "guard": IS_OWNER,
        "guard_message": OWNER_GUARD_MESSAGE,
    },
    {
        "name": "owner_object",
        "label": L("原服务人有异议", "Servicer objects"),
        "from": ["owner_confirm"],
        "to": "approval",
        "roles": ["account_manager", "team_lead", "branch_manager"],
        "comment": "required",
        "style": "warning",
        "guard": IS_OWNER,
        "guard_message": OWNER_GUARD_MESSAGE,
        "actions": [
            notify(
                BRANCH_MANAGER,
                "客户归属变更 {{record.display_name}} 原服务人有异议，请裁决",
                "The current servicer objects to customer assignment {{record.display_name}}: please decide",
            )
        ],
    },
    {
        "name": "approve",
        "label": L("审批通过", "Approve"),
        "from": ["approval"],
        "to": "effective",
        "roles": APPROVERS,
        "allow_self_approval": False,
        "input": ["approved_by"],
        "comment": "optional",
        "style": "success",
        "guard": {
            "all": [
                {"field": "approved_by", "op": "eq", "value": {"ctx": "user.employee"}},
                {"field": "valid_from", "op": "gte", "value": {"date": "today"}},
            ]
        },
        "guard_message": L(
            "审批人须为您本人，且生效日期不得早于今天（归属变更不得追溯）",
            "You must sign the approval as yourself, and the assignment cannot take effect before today",
        ),
        "actions": [
            {"do": "set", "field": "approved_at", "value": {"time": "now"}},
            notify(
                RECEIVER + OWNER,
                "客户归属变更 {{record.display_name}} 已审批通过，自 {{record.valid_from}} 起生效",
                "Customer assignment {{record.display_name}} is approved, effective {{record.valid_from}}",
            ),
        ],
    },
    {
        "name": "reject",
        "label": L("驳回", "Reject"),
        "from": ["approval"],
        "to": "rejected",
        "roles": APPROVERS,
        "allow_self_approval": False,
        "comment": "required",
        "style": "danger",
        "actions": [
            notify(
                RECEIVER,
                "客户归属变更 {{record.display_name}} 已被驳回",
                "Customer assignment {{record.display_name}} was rejected",
            )
        ],
    },
    {
        "name": "notify_customer",
        "label": L("已通知客户", "Customer notified"),
        "from": ["effective"],
        "to": "customer_notified",
        "roles": ["team_lead", "branch_manager", "service_agent", "service_supervisor"],
        "comment": "optional",
        "actions": [
            {
                "do": "create_task",
                "entity": "return_visit",
                "type": "manager_change",
                "assign_to": {"role": "return_visit_agent", "within": {"field": "customer.servicing_org"}},
                "due": "P5D",
                "title": L(
                    "服务人变更回访：{{record.display_name}}",
                    "Return visit after the change of servicer: {{record.display_name}}",
                ),
            }
        ],
    },
    {
        "name": "withdraw",
        "label": L("撤回申请", "Withdraw"),
        "from": ["requested", "owner_confirm", "approval"],
        "to": "withdrawn",
        "roles": ["$creator"],
        "comment": "optional",
        "style": "secondary",
    },
]

slas = [
    {
        "name": "approval",
        "label": L("审批时效", "Approval"),
        "start": {"on": "state", "state": "approval"},
        "stop": {"on_state": ["effective", "rejected", "withdrawn"]},
        "calendar": "service_hours",
        "target": {"default": "P3D"},
        "escalations": [
            {
                "at": "100%",
                "actions": [
                    notify(
                        BRANCH_MANAGER,
                        "【超时升级】客户归属变更 {{record.display_name}} 超过 3 个工作日未审批",
                        "[Escalated] customer assignment {{record.display_name}} has waited over 3 working days for approval",
                        channels=("inapp", "sms"),
                    )
                ],
            }
        ],
    }
]

doc = {
    "kind": "workflow",
    "name": "customer_assignment",
    "label": L("客户移交/共享流程", "Customer transfer and sharing"),
    "description": L(
        "W4：申请 → 原服务人确认（客户申请或原服务人离职时跳过）→ 团队长/营业部负责人审批（申请人不得自批，3 个工作日，"
        "超时升级营业部负责人）→ 生效 → 通知客户；驳回；撤回。",
        "W4: requested → the current servicer confirms (skipped for customer requests and departing servicers) → "
        "team leader / branch manager approval (never the requester; 3 working days, then the branch manager) → "
        "effective → customer notified; rejected; withdrawn.",
    ),
    "entity": "customer_assignment",
    "state_field": "status",
    "initial": "requested",
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

json.dump(doc, open("/work/main/workflows/customer_assignment.json", "w"), ensure_ascii=False, indent=1)
