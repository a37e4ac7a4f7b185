"""An account manager's working day as Locust users, against a running SCRM (see bench/load.py).

Each simulated user logs in through the login form as one of the load logins that
``bench/load.py`` made (a real account manager's book each), then, without think time unless
``SCRM_LOAD_THINK`` seconds are given, repeats the mix below. Every response is checked: a wrong
status, a login page instead of the asked one, or a form that does not save counts as a failure.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from html.parser import HTMLParser
from itertools import count

from locust import HttpUser, between, constant, task

LOGINS = json.loads(open(os.environ["SCRM_LOAD_USERS"], encoding="utf-8").read())
THINK = float(os.environ.get("SCRM_LOAD_THINK", "0"))
NEXT_LOGIN = count()
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class EditForm(HTMLParser):
    """The fields a browser would submit from the record's edit form: inputs (checked boxes only),
    selects (their selected options) and text areas."""

    def __init__(self, action: str):
        super().__init__()
        self.action = action
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = (a.get("action") or "").endswith(self.action)
        if not self.inside or a.get("disabled") is not None:
            return
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((name, a.get("value") or ""))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.fields.append((self._select, a.get("value") or ""))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_data(self, data):
        if self._textarea:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.fields.append((self._textarea, "".join(self._text).lstrip("\n")))
            self._textarea = None


class AccountManager(HttpUser):
    wait_time = between(0, THINK) if THINK else constant(0)

    def on_start(self):
        login = LOGINS[next(NEXT_LOGIN) % len(LOGINS)]
        self.book = login["customers"]
        page = self.client.get("/login", name="login page")
        token = CSRF.search(page.text).group(1)
        with self.client.post(
            "/login",
            data={"username": login["username"], "password": login["password"], "csrf_token": token},
            allow_redirects=False,
            name="login",
            catch_response=True,
        ) as response:
            if response.status_code != 302:
                response.failure(f"login answered {response.status_code}")

    def page(self, path: str, name: str, must: str | None = None):
        with self.client.get(path, name=name, catch_response=True, allow_redirects=False) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}")
            elif must and must not in response.text:
                response.failure(f"the page lacks {must!r}")
            return response

    @task(5)
    def my_customers(self):
        self.page("/e/customer", "customer list", "list-rows")

    @task(3)
    def filtered_customers(self):
        tier = random.choice(["mass", "potential", "wealth"])
        self.page(f"/e/customer?f_asset_tier={tier}&sort=-total_assets", "customer list, filter + sort", "list-rows")

    @task(2)
    def search(self):
        self.page(f"/e/customer?q={random.choice('王李张刘陈杨黄赵')}", "customer search", "list-rows")

    @task(4)
    def customer_360(self):
        self.page(f"/e/customer/{random.choice(self.book)}/360", "customer 360°")

    @task(2)
    def customer_record(self):
        self.page(f"/e/customer/{random.choice(self.book)}", "customer record")

    @task(2)
    def my_tasks(self):
        self.page("/e/task", "task list", "list-rows")

    @task(1)
    def home(self):
        self.page("/", "home")

    @task(1)
    def api_list(self):
        with self.client.get(
            "/api/v1/records/customer?sort=-total_assets&limit=50", name="API customer list", catch_response=True
        ) as response:
            if response.status_code != 200 or "items" not in response.json():
                response.failure(f"{response.status_code}")

    @task(1)
    def edit_customer(self):
        record = random.choice(self.book)
        action = f"/e/customer/{record}/edit"
        form = self.page(action, "customer edit form")
        if form.status_code != 200:
            return
        parser = EditForm(action)
        parser.feed(form.text)
        fields = [(k, v) for k, v in parser.fields if k != "notes"]
        fields.append(("notes", f"load test {time.time():.3f}"))
        with self.client.post(
            action, data=fields, name="customer save", allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code == 409:  # another simulated user saved it first: a real answer
                response.success()
            elif response.status_code != 303:
                response.failure(
                    f"{response.status_code}: {re.findall(r'invalid-feedback[^>]*>([^<]+)', response.text)[:3]}"
                )
