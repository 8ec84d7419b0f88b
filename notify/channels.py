"""How a notice reaches a receiver: a signed webhook, four chat robots' formats, or an email.

Standard library only (urllib, smtplib): each call has a timeout, and a refusal is a SendFailed with a
line saying why, which the outbox logs and retries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote_plus

from notify import messages

SCHEMA = "delivery.notification/1"
USER_AGENT = "delivery-tracker-notify/1"


class SendFailed(Exception):
    """The receiver did not take the notice (down, slow, refused it): try again later."""


@dataclass(frozen=True)
class Settings:
    """Delivery settings from the environment (docs/notifications.md)."""

    timeout: float = 10.0
    public_url: str = ""
    smtp_host: str = ""
    smtp_port: int = 0
    smtp_security: str = "starttls"  # starttls, ssl or none
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        security = env.get("DELIVERY_SMTP_SECURITY", "starttls").strip().lower() or "starttls"
        default_port = {"ssl": 465, "none": 25}.get(security, 587)
        return cls(
            timeout=float(env.get("DELIVERY_NOTIFY_TIMEOUT_SECONDS", "10") or 10),
            public_url=env.get("DELIVERY_PUBLIC_URL", "").strip().rstrip("/"),
            smtp_host=env.get("DELIVERY_SMTP_HOST", "").strip(),
            smtp_port=int(env.get("DELIVERY_SMTP_PORT", "") or default_port),
            smtp_security=security,
            smtp_user=env.get("DELIVERY_SMTP_USER", ""),
            smtp_password=env.get("DELIVERY_SMTP_PASSWORD", ""),
            smtp_from=env.get("DELIVERY_SMTP_FROM", "").strip(),
        )

    def link(self, project_id: str) -> str | None:
        return f"{self.public_url}/pm/p/{project_id}" if self.public_url else None


def webhook_body(delivery_id: str, notice: dict[str, Any], language: str, link: str | None) -> bytes:
    """The webhook's JSON body: the same bytes on every attempt (docs/notifications.md has the schema)."""
    doc = {
        "schema": SCHEMA, "delivery_id": delivery_id, "kind": notice["kind"], "project": notice["project"],
        "position": notice["position"], "occurred_at": notice["occurred_at"], "actor": notice["actor"],
        "data": notice["data"], "language": language, "text": messages.plain(notice, language), "link": link,
    }
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256 of `timestamp.body` with the subscription's secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signature: base64 HMAC-SHA256 of `timestamp\\nsecret` keyed by the secret."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu/Lark's bot signature: base64 HMAC-SHA256 of an empty message keyed by `timestamp\\nsecret`."""
    mac = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> bytes:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT, **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return bytes(response.read(65536))
    except urllib.error.HTTPError as exc:
        raise SendFailed(f"HTTP {exc.code} from the receiver") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SendFailed(f"cannot reach the receiver: {reason}") from None


def _robot_answer(answer: bytes, code_keys: tuple[str, ...]) -> str:
    """Chat robots answer 200 with an error code in the body: 0 is taken, anything else is a refusal."""
    try:
        doc = json.loads(answer or b"{}")
    except ValueError:
        doc = {}
    for key in code_keys:
        if isinstance(doc, dict) and doc.get(key) not in (None, 0):
            raise SendFailed(f"the robot refused it: {key}={doc.get(key)} {doc.get('errmsg') or doc.get('msg') or ''}"
                             .strip())
    return "accepted"


def send(channel: str, *, target: str, secret: str, language: str, delivery_id: str, notice: dict[str, Any],
         settings: Settings) -> str:
    """Deliver one notice; returns a line for the log, or raises SendFailed."""
    link = settings.link(notice["project"]["id"])
    if channel == "webhook":
        signed = webhook_body(delivery_id, notice, language, link)
        timestamp = str(int(time.time()))
        _post(target, signed, {"X-Delivery-Id": delivery_id, "X-Delivery-Timestamp": timestamp,
                             "X-Delivery-Signature": webhook_signature(secret, timestamp, signed)}, settings.timeout)
        return "HTTP 2xx"
    if channel == "email":
        return send_email(target, language, delivery_id, notice, settings, link)
    text = messages.markdown(notice, language, link)
    title = messages.title(notice, language)
    body: dict[str, Any]
    if channel == "wecom":
        body = {"msgtype": "markdown", "markdown": {"content": text}}
        return _robot_answer(_post(target, _json(body), {}, settings.timeout), ("errcode",))
    if channel == "dingtalk":
        url = target
        if secret:
            stamp = int(time.time() * 1000)
            url += ("&" if "?" in url else "?") + f"timestamp={stamp}&sign={quote_plus(dingtalk_sign(secret, stamp))}"
        body = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
        return _robot_answer(_post(url, _json(body), {}, settings.timeout), ("errcode",))
    if channel == "feishu":
        body = {"msg_type": "text", "content": {"text": messages.plain(notice, language, link)}}
        if secret:
            stamp = int(time.time())
            body = {"timestamp": str(stamp), "sign": feishu_sign(secret, stamp), **body}
        return _robot_answer(_post(target, _json(body), {}, settings.timeout), ("code", "StatusCode"))
    if channel == "slack":
        answer = _post(target, _json({"text": messages.plain(notice, language, link)}), {}, settings.timeout)
        if answer.strip() not in (b"ok", b""):
            raise SendFailed(f"Slack answered {answer[:200].decode(errors='replace')}")
        return "accepted"
    raise SendFailed(f"unknown channel {channel}")


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


def send_email(to: str, language: str, delivery_id: str, notice: dict[str, Any], settings: Settings,
               link: str | None) -> str:
    if not settings.smtp_host or not settings.smtp_from:
        raise SendFailed("email is not configured: set DELIVERY_SMTP_HOST and DELIVERY_SMTP_FROM")
    mail = EmailMessage()
    mail["Subject"] = messages.title(notice, language)
    mail["From"] = settings.smtp_from
    mail["To"] = to
    # Receivers (and mail clients) can de-duplicate a retried mail by its id.
    mail["Message-ID"] = f"<{delivery_id}@delivery-tracker>"
    mail["X-Delivery-Id"] = delivery_id
    mail["Content-Language"] = messages.language_of(language)
    mail.set_content(messages.plain(notice, language, link))
    mail.add_alternative(messages.html_body(notice, language, link), subtype="html")
    try:
        smtp: smtplib.SMTP
        if settings.smtp_security == "ssl":
            smtp = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=settings.timeout,
                                    context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout)
        with smtp:
            if settings.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(mail)
    except (smtplib.SMTPException, OSError) as exc:
        raise SendFailed(f"SMTP: {type(exc).__name__}: {exc}") from None
    return "accepted by the SMTP server"
