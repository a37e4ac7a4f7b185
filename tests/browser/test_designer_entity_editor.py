"""The entity editor in a real browser: a designer opens a field's panel, sees who uses it,
renames it and adds an option in the option table, publishes — and the record form offers the
new option under the field's new name."""

from __future__ import annotations

import re


def test_a_renamed_field_with_a_new_option_reaches_the_record_form(browser, live_server, new_page, screenshot):
    page = new_page(browser, live_server)
    page.goto(f"{live_server}/design/entity/customer", timeout=60_000)  # the first check of the configuration
    page.click("#edit-education")
    page.wait_for_selector("#field-panel")
    page.wait_for_selector("#field-users table")  # fetched by htmx when the panel opens
    assert "form/customer_form" in page.inner_text("#field-users")

    page.fill("#fp-new-name", "education_level")
    page.click("#rename-submit")
    page.wait_for_url(re.compile(r"field=education_level"))
    page.wait_for_selector("#field-education_level")
    assert "education" in page.inner_text("#field-panel")  # the earlier name is kept

    page.fill("#new-option-0", "postdoc")
    page.fill("#new-option-0-zh", "博士后")
    page.fill("#new-option-0-en", "Postdoctoral")
    page.click("#save-field")
    page.wait_for_selector("#option-postdoc")
    screenshot(page, "designer-entity-field-panel")

    page.click("#go-publish")
    page.click("#publish")
    page.wait_for_selector("#versions")

    page.goto(f"{live_server}/e/customer/new")
    options = page.locator("select[name=education_level] option")
    assert "博士后" in options.all_inner_texts()
    page.select_option("select[name=education_level]", "postdoc")
    assert page.locator("select[name=education]").count() == 0
    assert not page.scrm_errors, page.scrm_errors
