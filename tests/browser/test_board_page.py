"""Boards in a real browser (tasks, and tickets whose moves take workflow steps): drag a card to another column (counts follow, a reload
shows it stayed), the keyboard "Move to…" path, a conflict put back with its message, the same
move without JavaScript, and the phone layout."""

import re

import pytest
from playwright.sync_api import expect
from test_board import TASKS, record, task, tasks, tickets

from scrm.web.board import column_key

pytestmark = pytest.mark.browser

BOARD = "/e/service_ticket/board"


def count(page, value: str):
    return page.locator(f"#board-count-{column_key(value)}")


def cards(page, value: str):
    return page.locator(f"#board-cards-{column_key(value)} .scrm-board-card")


def test_drag_a_card_to_another_column(browser, live_server, new_page, screenshot, app, seed):
    ids = tasks(app, [{"priority": "P1", "customer": seed["c1"]}, {"priority": "P3"}, {"customer": seed["c2"]},
                      {"status": "in_progress", "priority": "P2"}, {"status": "cancelled"}])  # fmt: skip
    page = new_page(browser, live_server)
    page.goto(f"{live_server}{TASKS}")
    expect(count(page, "open")).to_have_text("3")
    expect(count(page, "in_progress")).to_have_text("1")
    screenshot(page, "board")

    page.drag_and_drop(f"#card-{ids[0]}", f"#board-col-{column_key('in_progress')} .scrm-board-cards")
    expect(page.locator(f"#board-cards-{column_key('in_progress')} #card-{ids[0]}")).to_be_visible()
    expect(count(page, "open")).to_have_text("2")
    expect(count(page, "in_progress")).to_have_text("2")
    expect(page.locator(f"#board-cards-{column_key('open')} #card-{ids[0]}")).to_have_count(0)
    expect(page.locator("#board-live")).to_contain_text("任务0")
    assert task(app, ids[0])["status"] == "in_progress"

    page.reload()
    expect(page.locator(f"#board-cards-{column_key('in_progress')} #card-{ids[0]}")).to_be_visible()
    expect(count(page, "in_progress")).to_have_text("2")
    assert page.scrm_errors == []


def test_move_to_with_the_keyboard(browser, live_server, new_page, app):
    ids = tasks(app, [{}, {"status": "in_progress"}])
    page = new_page(browser, live_server)
    page.goto(f"{live_server}{TASKS}")
    summary = page.locator(f"#card-{ids[0]} summary")
    summary.focus()
    page.keyboard.press("Enter")  # opens "Move to…"
    page.keyboard.press("Tab")
    select = page.locator(f"#card-{ids[0]} select[name=value]")
    expect(select).to_be_focused()
    select.select_option("in_progress")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    moved = page.locator(f"#board-cards-{column_key('in_progress')} #card-{ids[0]}")
    expect(moved).to_be_visible()
    expect(count(page, "in_progress")).to_have_text("2")
    expect(count(page, "open")).to_have_text("0")
    expect(page.locator(f"#board-cards-{column_key('open')} .scrm-board-empty")).to_be_visible()  # placeholder
    expect(moved.locator("h3 a")).to_be_focused()  # the keyboard stays on the card
    assert task(app, ids[0])["status"] == "in_progress" and page.scrm_errors == []


def test_a_stale_or_invalid_drop_puts_the_card_back_with_the_reason(browser, live_server, new_page, screenshot, app):
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    ids = tasks(app, [{}, {"status": "in_progress"}])
    page = new_page(browser, live_server)
    page.goto(f"{live_server}{TASKS}")
    with app.app_context():
        RecordService(snapshot(), None).update("task", ids[0], {"title": "别人改过"}, 1)
    page.drag_and_drop(f"#card-{ids[0]}", f"#board-col-{column_key('in_progress')} .scrm-board-cards")
    card = page.locator(f"#board-cards-{column_key('open')} #card-{ids[0]}")
    expect(card.locator(".scrm-board-message")).to_contain_text("版本 2")  # conflict: reload and apply again
    expect(card).to_contain_text("别人改过")
    expect(count(page, "in_progress")).to_have_text("1")

    page.drag_and_drop(f"#card-{ids[1]}", f"#board-col-{column_key('done')} .scrm-board-cards")
    card = page.locator(f"#board-cards-{column_key('in_progress')} #card-{ids[1]}")
    expect(card.locator(".scrm-board-message")).to_contain_text("处理结果")  # done needs an outcome
    expect(count(page, "done")).to_have_text("0")
    screenshot(page, "board-refused")
    assert task(app, ids[1])["status"] == "in_progress"
    assert [e for e in page.scrm_errors if "409" not in e and "422" not in e] == []  # the console notes the status


def test_a_ticket_card_takes_the_workflow_step(browser, live_server, new_page, app, seed):
    """On the ticket board a drop takes the step that leads there, or says why not."""
    ids = tickets(app, [{"status": "new"}])
    page = new_page(browser, live_server)
    page.goto(f"{live_server}{BOARD}")
    page.drag_and_drop(f"#card-{ids[0]}", f"#board-col-{column_key('in_progress')} .scrm-board-cards")
    card = page.locator(f"#board-cards-{column_key('new')} #card-{ids[0]}")
    expect(card.locator(".scrm-board-message")).to_contain_text("没有您可执行的操作")
    assert record(app, ids[0])["status"] == "new"


def test_more_loads_the_rest_of_a_column_once(browser, live_server, new_page, app):
    ids = tasks(app, [{"status": "in_progress"}] + [{}] * 22)
    page = new_page(browser, live_server)
    page.goto(f"{live_server}{TASKS}")
    expect(cards(page, "open")).to_have_count(20)
    page.drag_and_drop(f"#card-{ids[0]}", f"#board-col-{column_key('open')} .scrm-board-cards")
    expect(count(page, "open")).to_have_text("23")
    expect(cards(page, "open").first).to_have_id(f"card-{ids[0]}")  # on top of its new column
    page.click(f"#board-more-{column_key('open')} a")
    expect(page.locator(f"#board-more-{column_key('open')}")).to_have_count(0)
    expect(cards(page, "open")).to_have_count(23)  # the moved card, loaded again by "more", only once
    assert page.scrm_errors == []


def test_without_javascript_the_menu_posts_and_comes_back(browser, live_server, new_page, app):
    ids = tasks(app, [{"priority": "P1"}])
    page = new_page(browser, live_server, javascript=False)
    page.goto(f"{live_server}{TASKS}?f_priority=P1")
    page.click(f"#card-{ids[0]} summary")
    page.select_option(f"#card-{ids[0]} select[name=value]", "in_progress")
    page.click(f"#card-{ids[0]} button[type=submit]")
    page.wait_for_url(re.compile(r"/board\?by=status&f_priority=P1$"))
    expect(page.locator(f"#board-cards-{column_key('in_progress')} #card-{ids[0]}")).to_be_visible()
    expect(page.locator(".alert-success")).to_be_visible()


def test_the_board_on_a_phone(browser, live_server, new_page, screenshot, app, seed):
    tickets(app, [{"status": s, "customer": seed["c1"], "priority": p}
                  for s, p in (("new", "P1"), ("new", "P2"), ("assigned", "P3"), ("in_progress", "P2"),
                               ("pending_customer", "P4"), ("resolved", "P3"))])  # fmt: skip
    page = new_page(browser, live_server, mobile=True)
    page.goto(f"{live_server}{BOARD}")
    expect(count(page, "new")).to_have_text("2")
    assert page.evaluate("document.documentElement.scrollWidth") <= 400  # the page never scrolls sideways
    board = page.locator("#board")
    assert board.evaluate("b => b.scrollWidth > b.clientWidth")  # the columns do
    assert board.evaluate("b => getComputedStyle(b).scrollSnapType").startswith("x mandatory")
    width = page.locator(".scrm-board-column").first.evaluate("c => c.getBoundingClientRect().width")
    assert 280 <= width <= 340, width  # one column and a glimpse of the next
    screenshot(page, "board-phone")
    assert page.scrm_errors == []
