"""Sending e-mail: a small interface over smtplib, so that the jobs never speak SMTP themselves."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from types import TracebackType
from typing import Protocol

from config.settings import SmtpSettings


@dataclass(frozen=True)
class OutgoingEmail:
    """One outbox row, as the mailer needs it."""

    id: int
    recipient: str
    subject: str
    body: str


class DeliveryError(Exception):
    """Sending failed. ``connection``: the server could not be reached or dropped us (the
    rest of the batch would fail too); ``permanent``: the server refused this message for
    good (5xx), so retrying is pointless."""

    def __init__(self, message: str, *, connection: bool = False, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.connection = connection
        self.permanent = permanent


class Mailer(Protocol):
    def send(self, email: OutgoingEmail) -> None: ...

    def close(self) -> None: ...


class SmtpMailer:
    """Sends over one SMTP connection, opened on first use and kept for the batch.

    Use as a context manager; ``send`` raises DeliveryError and never anything else."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._sender = parseaddr(settings.sender)[1] or settings.sender

    def __enter__(self) -> SmtpMailer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            s = self.settings
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            try:
                smtp.ehlo()
                if s.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if s.user and s.password:
                    smtp.login(s.user, s.password)
            except BaseException:
                smtp.close()
                raise
            self._smtp = smtp
        return self._smtp

    def send(self, email: OutgoingEmail) -> None:
        message = self.build(email)
        try:
            self._connection().send_message(message, from_addr=self._sender, to_addrs=[email.recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            raise DeliveryError(f"recipient refused: {exc.recipients}", permanent=all(c >= 500 for c in codes)) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise DeliveryError(f"{exc.smtp_code} {exc.smtp_error!r}", permanent=exc.smtp_code >= 500) from None
        except (OSError, smtplib.SMTPException) as exc:  # refused, timed out, dropped, TLS or login failed
            self.close()
            raise DeliveryError(f"{type(exc).__name__}: {exc}", connection=True) from None

    def build(self, email: OutgoingEmail) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = email.subject
        message["From"] = self.settings.sender
        message["To"] = email.recipient
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(idstring=f"outbox-{email.id}", domain=self._sender.rpartition("@")[2] or None)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(email.body, charset="utf-8", cte="base64")
        return message

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
