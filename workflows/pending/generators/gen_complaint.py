"""Generates workflows/complaint.json (W2)."""

import json


def L(zh, en):
    return {"zh-CN": zh, "en": en}


def now(field, only_if_null=False):
    a = {"do": "set", "field": field, "value": {"time": "now"}}
    if only_if_null:
        a["only_if_null"] = True
    return a


def is_me(field):
    """The field names the acting user's own employee record (the approver signs with their name)."""
    return {"field": field, "op": "eq", "value": {"ctx": "user.employee"}}


def notify(to, zh, en, channels=("inapp",), **extra):
    return {"do": "notify", "to": to, "channels": list(channels), "subject": L(zh, en), **extra}


HANDLER = [{"field": "handler"}]
BRANCH_MANAGER = [{"role": "branch_manager", "within": {"field": "org_unit"}}]
COMPLIANCE = [{"role": "compliance_officer", "within": {"field": "org_unit"}}]
TEAM_LEADER = [{"role": "team_leader", "within": {"field": "org_unit"}}]

OPEN = [
    "received",
    "acknowledged",
    "investigating",
    "proposal_made",
    "customer_response",
    "accepted",
    "not_accepted",
    "mediation",
    "litigation_arbitration",
    "compliance_review",
]
BEFORE_DECISION = ["received", "acknowledged", "investigating", "proposal_made", "customer_response"]

states = {
    "received": {"label": L("已收到", "Received"), "category": "open"},
    "acknowledged": {"label": L("已告知受理", "Acknowledged"), "category": "open"},
    "investigating": {"label": L("调查中", "Investigating"), "category": "open"},
    "proposal_made": {"label": L("已提出处理方案", "Proposal made"), "category": "open"},
    "customer_response": {"label": L("投诉人答复", "Customer response"), "category": "waiting"},
    "accepted": {"label": L("投诉人接受", "Accepted"), "category": "open"},
    "not_accepted": {"label": L("投诉人不接受", "Not accepted"), "category": "open"},
    "mediation": {"label": L("调解中", "Mediation"), "category": "waiting"},
    "litigation_arbitration": {"label": L("诉讼/仲裁", "Litigation / arbitration"), "category": "waiting"},
    "compliance_review": {"label": L("合规复核", "Compliance review"), "category": "open"},
    "closed": {
        "label": L("已办结", "Closed"),
        "category": "done",
        "final": True,
        "editable_fields": ["customer_satisfied", "root_cause", "regulator_feedback_at"],
    },
    "withdrawn": {"label": L("已撤回", "Withdrawn"), "category": "done", "final": True, "editable_fields": []},
}

transitions = [
    {
        "name": "assign_handler",
        "label": L("指定承办人", "Assign the handler"),
        "from": OPEN,
        "to": "$same",
        "roles": ["service_supervisor", "branch_manager", "compliance_officer"],
        "input": ["handler"],
        "comment": "optional",
        "actions": [
            notify(
                HANDLER,
                "投诉 {{record.complaint_no}} 已指定由您承办，请在 1 个工作日内告知投诉人受理",
                "Complaint {{record.complaint_no}} is yours to handle: acknowledge it to the complainant within one working day",
            )
        ],
    },
    {
        "name": "acknowledge",
        "label": L("告知受理", "Acknowledge"),
        "from": ["received"],
        "to": "acknowledged",
        "roles": ["$owner", "service_supervisor"],
        "input": ["acknowledgement_channel"],
        "style": "primary",
        "actions": [now("acknowledged_at")],
    },
    {
        "name": "record_contact",
        "label": L("记录首次联系", "Record the first contact"),
        "from": ["received", "acknowledged", "investigating"],
        "to": "$same",
        "roles": ["$owner"],
        "comment": "required",
        "guard": {"field": "first_contact_at", "op": "is_null"},
        "guard_message": L("已记录过首次联系时间", "The first contact is recorded already"),
        "actions": [now("first_contact_at")],
    },
    {
        "name": "investigate",
        "label": L("开始调查", "Start the investigation"),
        "from": ["acknowledged"],
        "to": "investigating",
        "roles": ["$owner"],
        "style": "primary",
        "actions": [
            notify(
                [{"field": "involved_employees"}],
                "您被投诉人在投诉 {{record.complaint_no}} 中提及，请配合调查并提交书面说明",
                "You are named in complaint {{record.complaint_no}}: please assist the investigation with a written statement",
            )
        ],
    },
    {
        "name": "approve_proposal",
        "label": L("批准处理方案", "Approve the proposal"),
        "from": ["investigating"],
        "to": "proposal_made",
        "roles": ["branch_manager", "compliance_officer"],
        "input": ["investigation_summary", "responsibility", "resolution"],
        "comment": "optional",
        "style": "primary",
        "guard": {
            "any": [
                {"field": "compensation_amount", "op": "is_null"},
                {"field": "compensation_amount", "op": "lt", "value": "10000"},
                {"expr": {"ctx": "user.roles"}, "op": "has_any", "value": ["compliance_officer"]},
            ]
        },
        "guard_message": L(
            "赔偿/补偿金额 ≥ 1 万元的处理方案须由总部合规审批",
            "A proposal with compensation of CNY 10,000 or more needs HQ compliance approval",
        ),
        "actions": [
            notify(
                HANDLER,
                "投诉 {{record.complaint_no}} 的处理方案已批准，请联系投诉人",
                "The proposal for complaint {{record.complaint_no}} is approved: contact the complainant",
            )
        ],
    },
    {
        "name": "contact_customer",
        "label": L("告知投诉人方案", "Present the proposal"),
        "from": ["proposal_made"],
        "to": "customer_response",
        "roles": ["$owner"],
        "comment": "required",
        "style": "primary",
        "actions": [now("first_contact_at", only_if_null=True)],
    },
    {
        "name": "customer_accepts",
        "label": L("投诉人接受", "Complainant accepts"),
        "from": ["customer_response"],
        "to": "accepted",
        "roles": ["$owner"],
        "style": "success",
    },
    {
        "name": "customer_rejects",
        "label": L("投诉人不接受", "Complainant does not accept"),
        "from": ["customer_response"],
        "to": "not_accepted",
        "roles": ["$owner"],
        "comment": "required",
        "style": "warning",
    },
    {
        "name": "start_mediation",
        "label": L("转调解", "Refer to mediation"),
        "from": ["not_accepted"],
        "to": "mediation",
        "roles": ["$owner"],
        "input": ["mediation_org"],
        "comment": "required",
        "actions": [{"do": "set", "field": "resolution", "value": "mediation"}],
    },
    {
        "name": "start_litigation",
        "label": L("进入诉讼/仲裁", "Litigation / arbitration"),
        "from": ["not_accepted", "mediation"],
        "to": "litigation_arbitration",
        "roles": ["$owner", "compliance_officer"],
        "comment": "required",
        "style": "danger",
        "actions": [
            {"do": "set", "field": "resolution", "value": "litigation_arbitration"},
            notify(
                COMPLIANCE + BRANCH_MANAGER,
                "投诉 {{record.complaint_no}} 已进入诉讼/仲裁程序",
                "Complaint {{record.complaint_no}} went to litigation or arbitration",
            ),
        ],
    },
    {
        "name": "submit_review",
        "label": L("提交合规复核", "Submit for compliance review"),
        "from": ["accepted", "not_accepted", "mediation", "litigation_arbitration"],
        "to": "compliance_review",
        "roles": ["$owner"],
        "input": ["resolution"],
        "style": "primary",
        "guard": {
            "any": [
                {"field": "resolution", "op": "ne", "value": "compensated"},
                {"field": "compensation_amount", "op": "gt", "value": "0"},
            ]
        },
        "guard_message": L("处理结果为赔偿/补偿时须填写金额", "A compensated complaint needs the amount"),
        "actions": [
            notify(
                COMPLIANCE,
                "投诉 {{record.complaint_no}} 待合规复核",
                "Complaint {{record.complaint_no}} waits for the compliance review",
            )
        ],
    },
    {
        "name": "send_back",
        "label": L("退回补充调查", "Send back for more investigation"),
        "from": ["compliance_review"],
        "to": "investigating",
        "roles": ["compliance_officer"],
        "comment": "required",
        "style": "warning",
        "actions": [
            notify(
                HANDLER,
                "投诉 {{record.complaint_no}} 被合规退回，请补充调查",
                "Compliance sent complaint {{record.complaint_no}} back for more investigation",
            )
        ],
    },
    {
        "name": "close",
        "label": L("复核通过并办结", "Review and close"),
        "from": ["compliance_review"],
        "to": "closed",
        "roles": ["compliance_officer"],
        "allow_self_approval": False,
        "input": ["compliance_reviewed_by"],
        "guard": is_me("compliance_reviewed_by"),
        "guard_message": L("合规复核人须为您本人", "You must sign the review as yourself"),
        "comment": "optional",
        "style": "success",
        "actions": [
            now("compliance_reviewed_at"),
            now("closed_at"),
            {
                "do": "create_task",
                "assign_to": {"field": "handler.supervisor"},
                "type": "complaint_followup",
                "priority": "P2",
                "due": "P5D",
                "title": L(
                    "投诉办结回访：{{record.complaint_no}}",
                    "Follow-up visit for closed complaint {{record.complaint_no}}",
                ),
                "description": L(
                    "投诉已办结，请在 5 个工作日内回访投诉人，确认处理结果落实情况及满意度。",
                    "The complaint is closed: call the complainant within five working days to confirm the outcome and satisfaction.",
                ),
            },
            notify(
                COMPLIANCE,
                "监管转办投诉 {{record.complaint_no}} 已办结，请按期向监管反馈（转办编号 {{record.regulator_ref_no}}）",
                "Forwarded complaint {{record.complaint_no}} is closed: send the feedback to the regulator (ref. {{record.regulator_ref_no}})",
                when={"use": "regulator_forwarded"},
            ),
        ],
    },
    {
        "name": "withdraw",
        "label": L("投诉撤回", "Withdrawn by the complainant"),
        "from": OPEN,
        "to": "withdrawn",
        "roles": ["$owner", "service_supervisor"],
        "comment": "required",
        "style": "secondary",
        "actions": [
            {"do": "set", "field": "resolution", "value": "withdrawn"},
            now("closed_at"),
        ],
    },
    {
        "name": "request_extension",
        "label": L("申请延期", "Request an extension"),
        "from": BEFORE_DECISION,
        "to": "$same",
        "roles": ["$owner"],
        "input": ["extension_reason"],
        "guard": {"field": "extension_status", "op": "is_null"},
        "guard_message": L(
            "该投诉已申请或已批准延期",
            "An extension was requested or approved already",
        ),
        "actions": [
            {"do": "set", "field": "extension_status", "value": "extension_requested"},
            notify(
                BRANCH_MANAGER + COMPLIANCE,
                "投诉 {{record.complaint_no}} 申请延期，请审批",
                "Complaint {{record.complaint_no}}: an extension waits for your approval",
            ),
        ],
    },
    {
        "name": "approve_extension",
        "label": L("批准延期", "Approve the extension"),
        "from": BEFORE_DECISION,
        "to": "$same",
        "roles": ["branch_manager", "compliance_officer"],
        "maker_checker": {"of": "request_extension"},
        "input": ["extended_due_at", "extension_approved_by"],
        "guard": {"all": [{"field": "extension_status", "op": "eq", "value": "extension_requested"}, is_me("extension_approved_by")]},
        "guard_message": L(
            "须有待审批的延期申请，且延期审批人须为您本人",
            "There must be an extension request, and you must sign as its approver",
        ),
        "actions": [
            {"do": "set", "field": "extension_status", "value": "extension_approved"},
            notify(
                HANDLER,
                "投诉 {{record.complaint_no}} 延期已批准，请告知投诉人新的办结时限",
                "The extension of complaint {{record.complaint_no}} is approved: tell the complainant the new due date",
            ),
        ],
    },
    {
        "name": "refuse_extension",
        "label": L("驳回延期", "Refuse the extension"),
        "from": BEFORE_DECISION,
        "to": "$same",
        "roles": ["branch_manager", "compliance_officer"],
        "maker_checker": {"of": "request_extension"},
        "comment": "required",
        "guard": {"field": "extension_status", "op": "eq", "value": "extension_requested"},
        "guard_message": L("没有待审批的延期申请", "There is no extension request to refuse"),
        "actions": [
            {"do": "set", "field": "extension_status", "value": None},
            notify(
                HANDLER,
                "投诉 {{record.complaint_no}} 的延期申请被驳回，请按原时限办结",
                "The extension of complaint {{record.complaint_no}} was refused: keep the original due date",
            ),
        ],
    },
]

slas = [
    {
        "name": "acknowledge",
        "label": L("告知受理", "Acknowledgement"),
        "start": {"on": "created"},
        "stop": {"on_transition": ["acknowledge", "withdraw"]},
        "calendar": "service_hours",
        "target": {"default": "P1D"},
        "escalations": [
            {
                "at": "100%",
                "actions": [
                    notify(
                        HANDLER + TEAM_LEADER,
                        "【超时】投诉 {{record.complaint_no}} 超过 1 个工作日未告知受理",
                        "[Overdue] complaint {{record.complaint_no}} was not acknowledged within one working day",
                        channels=("inapp", "sms"),
                    )
                ],
            }
        ],
    },
    {
        "name": "first_contact",
        "label": L("首次联系", "First contact"),
        "start": {"on": "created"},
        "stop": {"on_transition": ["record_contact", "contact_customer", "withdraw"]},
        "calendar": "service_hours",
        "target": {"default": "P2D"},
        "escalations": [
            {
                "at": "100%",
                "actions": [
                    notify(
                        HANDLER + TEAM_LEADER,
                        "【超时】投诉 {{record.complaint_no}} 超过 2 个工作日未与投诉人实质联系",
                        "[Overdue] nobody has talked to the complainant of {{record.complaint_no}} within two working days",
                    )
                ],
            }
        ],
    },
    {
        "name": "proposal",
        "label": L("提出处理方案", "Proposal"),
        "start": {"on": "created"},
        "stop": {"on_state": ["proposal_made", "withdrawn"]},
        "calendar": "round_the_clock",
        "record_due_to": "due_at",
        "target": {"default": "P15D"},
        "escalations": [
            {
                "at": "P10D",
                "actions": [
                    notify(
                        BRANCH_MANAGER,
                        "【督办】投诉 {{record.complaint_no}} 已受理 10 天仍未提出处理方案（办结时限 {{record.due_at|datetime}}）",
                        "[Follow up] complaint {{record.complaint_no}} has no proposal after 10 days (due {{record.due_at|datetime}})",
                        channels=("inapp", "sms"),
                    )
                ],
            },
            {
                "at": "P13D",
                "actions": [
                    notify(
                        COMPLIANCE,
                        "【升级】投诉 {{record.complaint_no}} 已受理 13 天仍未提出处理方案，请总部合规介入",
                        "[Escalated] complaint {{record.complaint_no}} has no proposal after 13 days: HQ compliance to step in",
                        channels=("inapp", "sms"),
                    )
                ],
            },
            {
                "at": "100%",
                "actions": [
                    notify(
                        HANDLER + BRANCH_MANAGER + COMPLIANCE,
                        "【超时】投诉 {{record.complaint_no}} 已超过 15 天办理时限",
                        "[Overdue] complaint {{record.complaint_no}} is past its 15-day deadline",
                        channels=("inapp", "sms"),
                    )
                ],
            },
        ],
    },
]

doc = {
    "kind": "workflow",
    "name": "complaint",
    "label": L("投诉处理流程", "Complaint workflow"),
    "description": L(
        "W2：收到 → 告知受理 → 调查 → 处理方案（营业部负责人批准）→ 投诉人答复 → 接受 / 不接受（调解、诉讼仲裁）→ 合规复核 → 办结；"
        "任何未结状态可撤回；延期子流程由承办人申请、营业部负责人或合规审批（申请人不得自批）。"
        "时效：告知受理 1 个工作日、首次联系 2 个工作日、处理方案 15 个自然日（第 10 天督办营业部负责人，第 13 天升级合规）。",
        "W2: received → acknowledged → investigating → proposal (approved by the branch manager) → customer response → "
        "accepted / not accepted (mediation, litigation or arbitration) → compliance review → closed; withdrawn from any open "
        "state; the extension sub-flow is requested by the handler and approved by the branch manager or compliance (never by "
        "the requester). SLAs: acknowledgement in 1 working day, first contact in 2, a proposal in 15 calendar days "
        "(branch manager on day 10, compliance on day 13).",
    ),
    "entity": "complaint",
    "state_field": "status",
    "initial": "received",
    "numbering": {"field": "complaint_no", "prefix": "TS", "digits": 4},
    "calendars": {
        "service_hours": {
            "tz": "Asia/Shanghai",
            "weekly": {"mon-fri": [["08:30", "17:30"]]},
            "holidays": "cn_public_holidays",
        },
        "round_the_clock": {"tz": "Asia/Shanghai", "weekly": {"mon-sun": [["00:00", "24:00"]]}},
    },
    "states": states,
    "transitions": transitions,
    "slas": slas,
}

json.dump(doc, open("/work/main/workflows/complaint.json", "w"), ensure_ascii=False, indent=1)
