"""The customer form in a real browser: a rule shows and requires a field as the user picks,
inline validation on leaving a field, the account manager chosen through the type-ahead with
the keyboard, and the save."""

import re

import pytest
from playwright.sync_api import expect
from support import after_swap

pytestmark = pytest.mark.browser


def test_professional_investor_shows_and_requires_the_certificate(browser, live_server, new_page, screenshot):
    page = new_page(browser, live_server)
    page.goto(f"{live_server}/e/customer/new")
    page.fill("#f-customer_no", "330000000777")
    page.fill("#f-name", "规则客户")
    page.select_option("#f-id_type", "passport")
    page.fill("#f-id_number", "E77777777")
    page.click("button[data-bs-target='#form-suitability']")
    cert = page.locator("#f-professional_cert_no")
    expect(cert).to_be_hidden()
    page.select_option("#f-investor_category", "professional_2")
    expect(cert).to_be_visible()  # the server decided, htmx swapped the region in
    expect(page.locator("label[for=f-professional_cert_no]")).to_have_class(re.compile("scrm-required"))

    def leave(value: str) -> None:
        """Type ``value`` and leave the field; wait until its inline validation is swapped in."""
        field = page.locator("#f-professional_cert_no")
        after_swap(page, "#wrap-professional_cert_no", lambda: (field.fill(value), field.press("Tab")))

    leave("x")
    leave("")  # leaving it emptied: the message a save would give
    expect(page.locator("#wrap-professional_cert_no .invalid-feedback")).to_contain_text(re.compile("必填|required"))
    leave("ZY2026000777")
    expect(page.locator("#wrap-professional_cert_no .invalid-feedback")).to_have_count(0)
    page.fill("#f-professional_valid_until", "2028-06-30")

    page.click("button[data-bs-target='#form-ownership']")
    manager = page.locator("#f-primary_manager")
    manager.fill("李")
    option = page.locator("#f-primary_manager-list [role=option]")
    expect(option).to_have_count(1)  # 李娜; the list is filtered by the typed text
    expect(option).to_contain_text("E002")  # and shows the lookup's display fields
    manager.press("ArrowDown")
    expect(manager).to_have_attribute("aria-activedescendant", re.compile("opt-"))
    manager.press("Enter")
    expect(page.locator("input[type=hidden][name=primary_manager]")).to_have_value(re.compile(r"^\d+$"))
    expect(manager).to_have_value("李娜")
    screenshot(page, "customer-form-professional")

    page.click("form.scrm-form button[type=submit]")
    page.wait_for_url(re.compile(r"/e/customer/\d+$"))
    body = page.text_content("main")  # all tabs
    assert "ZY2026000777" in body and "李娜" in body
    assert page.scrm_errors == []


def test_choosing_an_institution_type_swaps_the_sections(browser, live_server, new_page):
    page = new_page(browser, live_server)
    page.goto(f"{live_server}/e/customer/new")
    institution = page.locator("#f-institution_class")
    occupation = page.locator("#f-occupation")
    expect(occupation).to_be_visible()
    expect(institution).to_be_hidden()
    page.check("input[name=customer_type][value=institution]")
    expect(institution).to_be_visible()
    expect(occupation).to_be_hidden()
    assert page.scrm_errors == []
