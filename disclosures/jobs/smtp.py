"""One SMTP connection for a whole job, reused message after message.

``send`` returns once the server accepted the message. A 5xx answer is ``Refused`` (that
message fails, with the server's reason; the connection goes on). A 4xx answer or a lost
connection is tried again, reconnecting, after JOB_SMTP_BACKOFF_SECONDS, then twice that,
…, JOB_SMTP_RETRIES times; then ``Unavailable``. With ``MAIL_SUPPRESS_SEND`` nothing is
sent: the message goes to the app's outbox (development, tests).
"""

from __future__ import annotations

import smtplib
import ssl
import time
from email.message import EmailMessage

from flask import current_app


class Refused(Exception):  # noqa: N818
    """The server refused this message for good (5xx): ``reason`` is its answer."""


class Unavailable(Exception):  # noqa: N818
    """The server could not be reached, or kept answering 4xx, after every retry."""


def _answer(code: int, text) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}".strip()


class MailConnection:
    def __init__(self, sleep=time.sleep):
        config = current_app.config
        self.config = config
        self.suppressed = bool(config.get("MAIL_SUPPRESS_SEND"))
        self.retries = int(config["JOB_SMTP_RETRIES"])
        self.backoff = float(config["JOB_SMTP_BACKOFF_SECONDS"])
        self.sleep = sleep
        self.smtp: smtplib.SMTP | None = None
        self.connections = 0  # opened so far (the bench reports it)

    def __enter__(self) -> MailConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        if config.get("MAIL_USE_SSL"):
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30,
                context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30)
        if config.get("MAIL_USE_TLS"):
            smtp.starttls(context=ssl.create_default_context())
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        self.connections += 1
        return smtp

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self.smtp = None

    def _drop(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.close()
            except OSError:
                pass
            self.smtp = None

    def send(self, message: EmailMessage) -> None:
        if self.suppressed:
            current_app.extensions.setdefault("mail_outbox", []).append(message)
            current_app.logger.info("Mail not sent (suppressed): %s", message["Subject"])
            return
        delay = self.backoff
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(delay)
                delay *= 2
            try:
                if self.smtp is None:
                    self.smtp = self._connect()
                self.smtp.send_message(message)
                return
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                last = _answer(code, text)
                if code >= 500:
                    raise Refused(last) from exc
            except smtplib.SMTPResponseException as exc:  # sender refused, data refused, …
                last = _answer(exc.smtp_code, exc.smtp_error)
                if exc.smtp_code >= 500:
                    raise Refused(last) from exc
                self._drop()
            except (smtplib.SMTPException, OSError) as exc:  # lost connection, refused connect
                last = str(exc) or type(exc).__name__
                self._drop()
        raise Unavailable(f"The mail server at {self.config['MAIL_SERVER']}:"
                          f"{self.config['MAIL_PORT']} did not accept mail ({last}).")
