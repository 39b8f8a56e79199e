"""Sending e-mail through SMTP, configured by ``MAIL_*``. One small module, no state.

With ``MAIL_SUPPRESS_SEND`` the message is not sent; it is kept in
``app.extensions["mail_outbox"]`` (development and tests) and only its
recipient and subject are logged: bodies carry login links, never logged.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import current_app


class MailError(RuntimeError):
    """The server refused or failed. ``sent``: how many of the messages it had accepted
    before that (in order), so a caller records those as sent and only those."""

    def __init__(self, message: str, sent: int = 0):
        super().__init__(message)
        self.sent = sent


def build_message(to: str, subject: str, body: str) -> EmailMessage:
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=config["MAIL_DEFAULT_SENDER"].rsplit("@", 1)[-1])
    message.set_content(body)
    return message


def send_messages(messages: list[EmailMessage]) -> None:
    """Send messages over one SMTP connection, in order. Raises ``MailError`` (with how
    many were accepted before) if the server refuses or fails."""
    if not messages:
        return
    config = current_app.config
    if config.get("MAIL_SUPPRESS_SEND"):
        outbox = current_app.extensions.setdefault("mail_outbox", [])
        outbox.extend(messages)
        for message in messages:
            current_app.logger.info("Mail not sent (suppressed): %s", message["Subject"])
        return
    sent = 0
    try:
        if config.get("MAIL_USE_SSL"):
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30)
        with smtp:
            if config.get("MAIL_USE_TLS"):
                smtp.starttls(context=ssl.create_default_context())
            if config.get("MAIL_USERNAME"):
                smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
            for message in messages:
                smtp.send_message(message)
                sent += 1
    except (OSError, smtplib.SMTPException) as exc:
        if sent == len(messages):  # every message accepted; only saying goodbye failed
            current_app.logger.warning("Mail server failed after accepting every message: %s", exc)
            return
        raise MailError(f"The mail server at {config['MAIL_SERVER']} refused or failed: {exc}",
                        sent=sent) from exc


def send(to: str, subject: str, body: str) -> None:
    send_messages([build_message(to, subject, body)])
