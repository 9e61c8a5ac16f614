"""One recipient's message: keywords (spec §6.3), the Jinja2 template, the from address, the MIME.

* Keywords ``%%USER_ID%%`` (the learner's anonymized id), ``%%USER_FULLNAME%%``,
  ``%%COURSE_DISPLAY_NAME%%``, ``%%COURSE_ID%%``, ``%%COURSE_START_DATE%%``, ``%%COURSE_END_DATE%%``
  are filled in per recipient: HTML-escaped in the HTML part, as they are in the text part.
* The text part is derived from the HTML once, when the email is written (inscriptis, Apache-2.0).
* The message is a standard-library MIME multipart/alternative with RFC 8058 one-click unsubscribe
  headers (``List-Unsubscribe`` and ``List-Unsubscribe-Post``), sent raw through SES.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.header import Header
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from functools import cache

from inscriptis import get_text
from inscriptis.model.config import ParserConfig
from jinja2 import DictLoader, Environment, StrictUndefined, TemplateError, select_autoescape
from markupsafe import Markup, escape

from functions.errors import BadRequest
from functions.logic.email.templates import EMAIL_TEMPLATES, PAGE_TEMPLATES, email_template_names
from functions.logic.reports import parse_course_key
from functions.models.email import Recipient

KEYWORDS = (
    "%%USER_ID%%",
    "%%USER_FULLNAME%%",
    "%%COURSE_DISPLAY_NAME%%",
    "%%COURSE_ID%%",
    "%%COURSE_START_DATE%%",
    "%%COURSE_END_DATE%%",
)
_KEYWORD = re.compile(r"%%[A-Za-z0-9_]+%%")
# SES refuses a From header of 320 characters or more (upstream's fallback limit).
FROM_HEADER_LIMIT = 320
_UNSAFE_NUMBER = re.compile(r"[^\w.-]")


@dataclass(frozen=True)
class CourseFacts:
    """What keywords and templates say about the course (taken once per send, in its snapshot)."""

    course_id: str
    title: str
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@cache
def _environment(autoescape: bool) -> Environment:
    templates = {**EMAIL_TEMPLATES, **PAGE_TEMPLATES}
    return Environment(
        loader=DictLoader(templates),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True)
        if autoescape
        else False,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def check_template(name: str) -> str:
    """The template name, or 400 naming the known ones."""
    if name not in email_template_names():
        raise BadRequest(f"Unknown email template {name!r} (templates: {', '.join(email_template_names())})")
    return name


def check_keywords(html: str) -> None:
    """400 for a ``%%...%%`` that is not a keyword (a typo would reach every learner as is)."""
    unknown = sorted({found for found in _KEYWORD.findall(html) if found not in KEYWORDS})
    if unknown:
        raise BadRequest(
            f"Unknown keyword {', '.join(unknown)} in the message (keywords: {', '.join(KEYWORDS)})"
        )


def html_to_text(html: str) -> str:
    """The text part of an HTML message, links kept as ``text [url]``."""
    text = get_text(html, ParserConfig(display_links=True))
    lines = [line.rstrip() for line in text.splitlines()]
    return "\n".join(lines).strip() + "\n"


def _date(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%b %d, %Y")


def keyword_values(course: CourseFacts, recipient: Recipient, anonymous_id: str) -> dict[str, str]:
    return {
        "%%USER_ID%%": anonymous_id,
        "%%USER_FULLNAME%%": recipient.full_name or recipient.username,
        "%%COURSE_DISPLAY_NAME%%": course.title,
        "%%COURSE_ID%%": course.course_id,
        "%%COURSE_START_DATE%%": _date(course.start),
        "%%COURSE_END_DATE%%": _date(course.end),
    }


def fill_keywords(text: str, values: Mapping[str, str], html: bool) -> str:
    def replace(match: re.Match[str]) -> str:
        value = values.get(match.group(0))
        if value is None:
            return match.group(0)
        return str(escape(value)) if html else value

    return _KEYWORD.sub(replace, text)


def render(
    *,
    template: str,
    subject: str,
    html_message: str,
    text_message: str,
    course: CourseFacts,
    recipient: Recipient,
    anonymous_id: str,
    unsubscribe_link: str,
    platform_name: str,
    language: str = "en",
) -> Rendered:
    values = keyword_values(course, recipient, anonymous_id)
    context = {
        "subject": subject,
        "course_title": course.title,
        "course_id": course.course_id,
        "email": recipient.email,
        "name": recipient.full_name or recipient.username,
        "unsubscribe_link": unsubscribe_link,
        "platform_name": platform_name,
        "language": language,
    }
    try:
        html = (
            _environment(True)
            .get_template(f"{template}.html")
            .render(
                # The staff's HTML is sent as written (as upstream); only the keyword values are escaped.
                message_body=Markup(fill_keywords(html_message, values, html=True)),
                **context,
            )
        )
        text = (
            _environment(False)
            .get_template(f"{template}.txt")
            .render(message_body=fill_keywords(text_message, values, html=False), **context)
        )
    except TemplateError as error:
        raise BadRequest(f"The email template {template!r} could not be rendered: {error}") from error
    return Rendered(subject=subject, text=text, html=html)


def render_page(title: str, text: str, action: str | None = None, button: str = "") -> str:
    """The unsubscribe pages (autoescaped)."""
    return (
        _environment(True)
        .get_template("page.html")
        .render(title=title, text=text, action=action, button=button)
    )


def from_address(
    default_from: str, use_course: bool, course_id: str, course_title: str, override: str | None = None
) -> str:
    """Spec §6.3's from address: the email's own, else ``"<Course title>" Course Staff
    <NUMBER-default@domain>`` (quotes removed from the title; the course number as the display name
    when the encoded header would reach SES's 320-character limit), else the default address."""
    if override:
        return override
    if not use_course:
        return default_from
    parsed = parse_course_key(course_id)
    number = _UNSAFE_NUMBER.sub("_", parsed[1] if parsed else "course")
    address = f"{number}-{default_from}"
    header = _staff_from(course_title.replace('"', ""), address)
    if len(Header(header, "utf-8").encode()) >= FROM_HEADER_LIMIT:
        header = _staff_from(number, address)
    return header


def _staff_from(display: str, address: str) -> str:
    if display.isascii():
        return f'"{display}" Course Staff <{address}>'
    return formataddr((f"{display} Course Staff", address), charset="utf-8")  # RFC 2047 encoded


def mime_message(
    *,
    from_header: str,
    to_address: str,
    rendered: Rendered,
    unsubscribe_link: str,
    date: datetime | None = None,
) -> bytes:
    """multipart/alternative (text, then HTML) with RFC 8058 one-click unsubscribe headers."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = from_header
    message["To"] = to_address
    message["Subject"] = rendered.subject
    message["Date"] = formatdate(date.timestamp() if date else None, usegmt=True)
    if unsubscribe_link:
        message["List-Unsubscribe"] = f"<{unsubscribe_link}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(rendered.text, cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    return message.as_bytes()
