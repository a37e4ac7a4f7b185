"""A service ticket's life in a real browser: created on the form (classified and routed by the
workflow), taken by the routed agent with the step buttons, discussed in the comment thread with
an @mention that reaches the team leader's inbox, a customer-visible answer with a file, and
resolved — the customer's status link (another browser, no login) checked after each step."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from test_ticket_workflow import desk  # noqa: F401  (the staffed service desk)

pytestmark = pytest.mark.browser
PASSWORD = "Pass-word-1234"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def staff(desk):  # noqa: F811
    """A team leader and two service agents of the branch, with user accounts (password PASSWORD)."""
    return desk["people"]


def ticket(app, ticket_id: int) -> dict:
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    with app.app_context():
        return RecordService(snapshot(), None).get("service_ticket", ticket_id)


def pick(page, field: str, typed: str) -> None:
    """Choose in a lookup: type, wait for the filtered option, take it with the keyboard."""
    page.locator(f"#f-{field}").fill(typed)
    option = page.locator(f"#f-{field}-list [role=option]", has_text=typed)
    expect(option).to_have_count(1)
    option.click()
    expect(page.locator(f"input[type=hidden][name={field}]")).to_have_value(re.compile(r"^\d+$"))


def take(page, step: str, **inputs) -> None:
    """Click a step's button on the workflow panel (filling its small form when it has one)."""
    form = page.locator(f"#workflow-panel form[data-step={step}]")
    if form.locator("details").count():
        form.locator("summary").click()
        for name, value in inputs.items():
            field = form.locator(f"[name={name}]")
            if field.evaluate("e => e.tagName") == "SELECT":
                field.select_option(value)
            else:
                field.fill(value)
        form.locator("button[type=submit]").click()
    else:
        form.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")


def test_a_ticket_from_creation_to_resolution_with_the_customer_watching(
    browser, live_server, new_page, screenshot, app, seed, staff, tmp_path
):
    admin = new_page(browser, live_server)
    admin.goto(f"{live_server}/e/service_ticket/new")
    admin.select_option("#f-source_channel", "phone_inbound")
    pick(admin, "customer", "王芳")
    admin.fill("#f-subject", "银证转账没到账")
    admin.fill("#f-description", "客户来电：昨天转出的资金至今没有到银行卡")
    admin.click("button[data-bs-target='#form-handling']")
    pick(admin, "org_unit", "北京")
    admin.click("form.scrm-form button[type=submit]")
    admin.wait_for_url(re.compile(r"/e/service_ticket/\d+$"))
    ticket_id = int(admin.url.rsplit("/", 1)[1])
    made = ticket(app, ticket_id)
    assert (made["category"], made["priority"], made["queue"]) == ("funds_transfer", "P2", "call_center")
    assert made["customer"] == seed["c1"]
    assert made["assignee"] in (staff["agent1"], staff["agent2"]) and made["status"] == "assigned"
    assert re.fullmatch(r"SR\d{8}\d{4}", made["ticket_no"])
    expect(admin.locator("#workflow-panel .card-header [data-state]")).to_have_text("已分派")
    link = admin.locator(".scrm-public-link").get_attribute("href")

    customer = browser.new_context().new_page()  # the customer's own phone: no login

    def customer_sees(status: str) -> None:
        customer.goto(link)
        expect(customer.locator("main")).to_contain_text(status)
        expect(customer.locator("main")).not_to_contain_text("客户来电")  # no internal data
        expect(customer.locator("main")).not_to_contain_text("内部判断")

    customer_sees("已受理")

    agent_login = next(login for login, emp in staff.items() if emp == made["assignee"])
    agent = new_page(browser, live_server, user=agent_login, password=PASSWORD)
    agent.goto(f"{live_server}/e/service_ticket/{ticket_id}")
    expect(agent.locator("#workflow-panel form[data-step=start]")).to_be_visible()
    take(agent, "start")
    expect(agent.locator("#workflow-panel .card-header [data-state]")).to_have_text("处理中")
    customer_sees("处理中")

    # an internal comment with an @mention: the team leader is told
    thread = agent.locator("#comments-panel")
    thread.locator("#comment-body").fill("内部判断：银行端退票，请 @lead 协调清算部")
    thread.locator("button[type=submit]").click()
    expect(agent.locator("#comments-panel .scrm-mention")).to_have_text("@lead")
    expect(agent.locator("#comments-panel .scrm-comment").first).to_contain_text("员工E10")  # signed by the agent
    customer_sees("处理中")
    lead = new_page(browser, live_server, user="lead", password=PASSWORD)
    lead.goto(f"{live_server}/inbox")
    expect(lead.locator("main")).to_contain_text("@员工E101")

    # a customer-visible answer with a file
    receipt = tmp_path / "退票凭证.png"
    receipt.write_bytes(PNG)
    thread = agent.locator("#comments-panel")
    thread.locator("#comment-body").fill("您好，银行端退票，资金已原路退回，凭证见附件")
    thread.locator("#comment-public").check()
    thread.locator("#comment-files").set_input_files(str(receipt))
    thread.locator("button[type=submit]").click()
    expect(agent.locator("#comments-panel .scrm-comment-public")).to_contain_text("退票凭证.png")
    customer_sees("处理中")
    expect(customer.locator("#public-comments")).to_contain_text("资金已原路退回")
    expect(customer.locator("#public-comments a", has_text="退票凭证.png")).to_be_visible()

    agent.reload()
    take(agent, "resolve", resolution_code=_first_option(agent, "resolve", "resolution_code"),
         resolution_summary="银行退票，已原路退回并告知客户")  # fmt: skip
    expect(agent.locator("#workflow-panel .card-header [data-state]")).to_have_text("已解决")
    customer_sees("已解决")
    screenshot(customer, "ticket-status-resolved")
    screenshot(agent, "ticket-page-resolved")
    done = ticket(app, ticket_id)
    assert done["status"] == "resolved" and done["resolved_at"] is not None
    for page in (admin, agent, lead, customer):
        assert getattr(page, "scrm_errors", []) == []


def _first_option(page, step: str, field: str) -> str:
    return page.locator(
        f"#workflow-panel form[data-step={step}] select[name={field}] option:nth-child(2)"
    ).get_attribute("value")
