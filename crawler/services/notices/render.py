"""Human notices: a Jinja2 template rendered to text, or to an RFC 5322 e-mail (.eml)."""

from __future__ import annotations

import os
import re
import time
from contextvars import ContextVar
from datetime import UTC
from email.generator import BytesGenerator
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from io import BytesIO
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from crawler.clock import iso_z
from crawler.errors import TrawlError
from crawler.services.notices.formats import notice_document, to_csv
from storage.notices import NoticeInfo

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEXT_TEMPLATE = "notice.txt.j2"
EML_TEMPLATE = "notice.eml.j2"
LEGAL_BASIS_ENV = "TRAWL_LEGAL_BASIS"
SENDER_ENV = "TRAWL_NOTICE_FROM"
ORG_ENV = "TRAWL_ORG_NAME"
DEFAULT_SENDER = "Trawl hotline <notices@trawl.invalid>"
DEFAULT_ORG = "the reporting hotline"
DEFAULT_LEGAL_BASIS = (
    "The URLs below serve images whose digests match entries of a list of known child sexual "
    "abuse material (CSAM) maintained for the purpose of removing such material. Hosting or "
    "distributing this material is illegal in most jurisdictions. You are asked to remove or "
    "disable access to it expeditiously, to preserve the related records for law enforcement, "
    "and to confirm removal quoting the reference of this notice. (Operators: replace this "
    "paragraph with your legal basis via TRAWL_LEGAL_BASIS or --legal-basis-file.)"
)
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f]+")

# Bounds on what a template may do (an operator's --template is configuration, yet a typo in
# a loop must end in a sentence, not a hung command or a traceback). Jinja2's sandbox already
# refuses range() over 100,000 items; these bound the rest.
RENDER_SECONDS = 30.0  # per notice; checked at every call and every piece of output
MAX_RENDERED_CHARS = 50_000_000  # a notice listing 100,000 URLs stays far below
MAX_SEQUENCE = 1_000_000  # items `*` may make of a string or list
MAX_POWER_BITS = 100_000  # size of an integer `**` may make
_deadline: ContextVar[float | None] = ContextVar("trawl_notice_deadline", default=None)


class NoticeRenderError(TrawlError, ValueError):
    """A template or setting that cannot be used; the message names the file and the fault."""


def _check_deadline() -> None:
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        raise SecurityError(
            f"it ran for more than {RENDER_SECONDS:g} s (a loop without end, or nested loops "
            "over large ranges)"
        )


class _BoundedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja2's sandbox (no attribute tricks, no list.append, range() capped) plus bounds on
    `*`, `**`, the time spent and, in _render, the size of the output."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for items, times in ((left, right), (right, left)):
                if (isinstance(items, str | bytes | list | tuple) and isinstance(times, int)
                        and len(items) * times > MAX_SEQUENCE):
                    raise SecurityError(
                        f"it repeats a sequence {times:,} times, past the limit of "
                        f"{MAX_SEQUENCE:,} items"
                    )
        elif (operator == "**" and isinstance(left, int) and isinstance(right, int)
              and abs(left) > 1 and right * abs(left).bit_length() > MAX_POWER_BITS):
            raise SecurityError(f"it raises {left} to the power {right:,}, a number too large")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_deadline()
        return super().call(__context, __obj, *args, **kwargs)


def legal_basis(path: Path | None = None) -> str:
    """The legal-basis paragraph: --legal-basis-file, else TRAWL_LEGAL_BASIS, else a default."""
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise NoticeRenderError(f"cannot read the legal-basis file {path}: {exc}") from None
    return os.environ.get(LEGAL_BASIS_ENV, "").strip() or DEFAULT_LEGAL_BASIS


def header_value(text: str) -> str:
    """A value safe for one e-mail header: CR, LF and other controls collapse to a space,
    so a provider name or subject can never inject a header (Bcc:) or end the headers."""
    return " ".join(_HEADER_UNSAFE.sub(" ", text).split())


class NoticeRenderer:
    """Renders notices with the bundled templates or an operator's replacement."""

    def __init__(
        self,
        *,
        template: Path | None = None,
        legal_basis_text: str | None = None,
        sender: str | None = None,
        organisation: str | None = None,
    ) -> None:
        self.legal_basis = legal_basis_text if legal_basis_text is not None else legal_basis()
        self.sender = header_value(sender or os.environ.get(SENDER_ENV) or DEFAULT_SENDER)
        self.organisation = organisation or os.environ.get(ORG_ENV) or DEFAULT_ORG
        # Text, not HTML: no autoescaping (URLs must stay verbatim). Sandboxed and bounded
        # because the template file is configuration, and configuration should not run
        # arbitrary code, nor run for ever.
        self.env = _BoundedEnvironment(
            loader=FileSystemLoader(str(TEMPLATE_DIR)), autoescape=False,
            undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
            lstrip_blocks=True,
        )
        self.custom = None
        if template is not None:
            try:
                self.custom = self.env.from_string(template.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                raise NoticeRenderError(f"cannot read the template {template}: {exc}") from None
            except TemplateError as exc:
                raise NoticeRenderError(
                    f"template {template} line {getattr(exc, 'lineno', '?')}: {exc}") from None
            except (RecursionError, MemoryError) as exc:
                raise NoticeRenderError(
                    f"template {template} is nested too deeply to compile "
                    f"({type(exc).__name__}); simplify it.") from None
        self.template_name = str(template) if template else None

    def _render(self, name: str, notice: NoticeInfo) -> str:
        document = notice_document(notice, self.legal_basis)
        context = {
            "notice": document,
            "items": document["items"],  # `notice.items` would be the dict method in Jinja2
            "legal_basis": self.legal_basis,
            "organisation": self.organisation,
            "sender": self.sender,
        }
        where = self.template_name or name
        token = _deadline.set(time.monotonic() + RENDER_SECONDS)
        try:
            template = self.custom or self.env.get_template(name)
            pieces: list[str] = []
            size = 0
            for piece in template.generate(**context):
                size += len(piece)
                if size > MAX_RENDERED_CHARS:
                    raise SecurityError(
                        f"its output passed {MAX_RENDERED_CHARS:,} characters"
                    )
                _check_deadline()
                pieces.append(piece)
            return "".join(pieces)
        except (SecurityError, OverflowError, MemoryError, RecursionError) as exc:
            # OverflowError: the sandbox's "Range too big"; MemoryError and RecursionError:
            # whatever the bounds above did not foresee.
            raise NoticeRenderError(
                f"template {where} was stopped: {exc or type(exc).__name__}. A notice template "
                "must not loop or compute without bound; simplify it."
            ) from None
        except TemplateError as exc:
            raise NoticeRenderError(f"template {where} cannot be rendered: {exc}") from None
        except Exception as exc:  # a template fault (1/0, a bad filter argument): say so
            raise NoticeRenderError(
                f"template {where} failed while rendering: {type(exc).__name__}: {exc}"
            ) from None
        finally:
            _deadline.reset(token)

    def text(self, notice: NoticeInfo) -> str:
        return self._render(TEXT_TEMPLATE, notice)

    def subject(self, notice: NoticeInfo) -> str:
        count = len(notice.items)
        what = "Repeated notice" if notice.kind != "initial" else "Notice"
        return header_value(
            f"[{notice.reference}] {what}: {count} URL{'s' if count != 1 else ''} serving known "
            f"child sexual abuse material on {notice.provider}"
        )

    def email(self, notice: NoticeInfo) -> EmailMessage:
        """The notice as an e-mail: body from the template, the URL table as a CSV attachment."""
        msg = EmailMessage()
        msg["From"] = self.sender
        if notice.abuse_email:
            msg["To"] = Address(display_name=header_value(notice.provider),
                                addr_spec=header_value(notice.abuse_email))
        msg["Subject"] = self.subject(notice)
        msg["Date"] = format_datetime(notice.created_at.replace(tzinfo=UTC))
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or "trawl.invalid"
        msg["Message-ID"] = make_msgid(idstring=header_value(notice.reference),
                                       domain=header_value(domain))
        msg["X-Trawl-Reference"] = header_value(notice.reference)
        msg["X-Trawl-Created"] = iso_z(notice.created_at) or ""
        msg.set_content(self._render(EML_TEMPLATE, notice))
        msg.add_attachment(to_csv([notice]), subtype="csv",
                           filename=header_value(f"{notice.reference}.csv"))
        return msg


def eml_bytes(message: EmailMessage) -> bytes:
    buf = BytesIO()
    BytesGenerator(buf).flatten(message)
    return buf.getvalue()


def mbox_bytes(messages: list[EmailMessage]) -> bytes:
    """Several e-mails as one mbox stream (for stdout; --out writes one .eml per notice)."""
    buf = BytesIO()
    for message in messages:
        BytesGenerator(buf, mangle_from_=True).flatten(message, unixfrom=True)
        buf.write(b"\n")
    return buf.getvalue()
