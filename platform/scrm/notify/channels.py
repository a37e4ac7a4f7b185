"""Notification channels: e-mail over SMTP and SMS through an HTTP JSON gateway, plus any a
plugin adds (``scrm_notification_channels``). A channel's ``send`` returns the provider's message
id, raises :class:`DeliveryError` for a failure worth retrying and :class:`ChannelUnavailable`
when it is not configured."""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, Protocol

from flask import current_app

TIMEOUT = 10


class DeliveryError(Exception):
    pass


class ChannelUnavailable(DeliveryError):
    pass


class Channel(Protocol):
    name: str

    def send(
        self, *, address: str | None, subject: str, body: str, template: str | None, params: dict
    ) -> str | None: ...


class EmailChannel:
    name = "email"

    def __init__(self, config: dict[str, Any]):
        self.config = config

    def send(self, *, address, subject, body, template=None, params=None) -> str | None:
        host = self.config.get("SCRM_SMTP_HOST")
        if not host:
            raise ChannelUnavailable("SCRM_SMTP_HOST is not set")
        if not address:
            raise DeliveryError("the recipient has no e-mail address")
        msg = EmailMessage()
        msg["From"] = self.config.get("SCRM_SMTP_FROM") or "scrm@localhost"
        msg["To"] = address
        msg["Subject"] = subject
        msg["Message-ID"] = make_msgid(domain="scrm")
        msg.set_content(body)
        try:
            with smtplib.SMTP(host, self.config.get("SCRM_SMTP_PORT") or 25, timeout=TIMEOUT) as smtp:
                if self.config.get("SCRM_SMTP_STARTTLS"):
                    smtp.starttls()
                if self.config.get("SCRM_SMTP_USER"):
                    smtp.login(self.config["SCRM_SMTP_USER"], self.config.get("SCRM_SMTP_PASSWORD") or "")
                smtp.send_message(msg)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP: {exc}") from None
        return msg["Message-ID"]


class SmsGatewayChannel:
    """``POST`` ``{"to", "sign", "template", "params", "text"}`` to the gateway; a 2xx answer with
    ``{"id": …}`` is accepted. In mainland China an SMS must use a registered provider template,
    so ``template`` and ``params`` are what the provider sends; ``text`` is the rendered message
    for gateways (and the simulator) that take free text."""

    name = "sms"

    def __init__(self, config: dict[str, Any]):
        self.config = config

    def send(self, *, address, subject, body, template=None, params=None) -> str | None:
        url = self.config.get("SCRM_SMS_GATEWAY_URL")
        if not url:
            raise ChannelUnavailable("SCRM_SMS_GATEWAY_URL is not set")
        if not address:
            raise DeliveryError("the recipient has no mobile number")
        payload = {
            "to": address,
            "sign": self.config.get("SCRM_SMS_SIGN") or "SCRM",
            "template": template,
            "params": params or {},
            "text": body,
        }
        headers = {"Content-Type": "application/json"}
        if self.config.get("SCRM_SMS_TOKEN"):
            headers["Authorization"] = f"Bearer {self.config['SCRM_SMS_TOKEN']}"
        request = urllib.request.Request(url, json.dumps(payload, ensure_ascii=False).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 (configured URL)
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"SMS gateway answered {exc.code}") from None
        except (TimeoutError, urllib.error.URLError, OSError, ValueError) as exc:
            raise DeliveryError(f"SMS gateway: {exc}") from None
        return str(answer.get("id")) if isinstance(answer, dict) and answer.get("id") else None


def channels() -> dict[str, Channel]:
    """The channels of this installation: the built-ins (:mod:`scrm.plugins.builtins`), then those
    plugins add (a plugin's channel of the same name replaces the built-in)."""
    from ..runtime import runtime  # (channels are looked up at send time)

    config = current_app.config
    out: dict[str, Channel] = {}
    # in registration order (the built-ins first), so that a later plugin's channel replaces theirs
    for extra in reversed(runtime().plugins.call("scrm_notification_channels", config=config)):
        for channel in extra or ():
            out[channel.name] = channel
    return out
