"""The certificate a learner shows: an HTML page rendered with Jinja2 (autoescaped), kept in S3.

Everything on it comes from the chunk's journaled decision (name, grade, date, id), so rendering it
again gives the same bytes.
"""

from __future__ import annotations

from datetime import datetime

from jinja2 import Environment

_ENVIRONMENT = Environment(autoescape=True, keep_trailing_newline=True)
_TEMPLATE = _ENVIRONMENT.from_string(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Certificate: {{ course_name }}</title>
<style>
body { font-family: Georgia, serif; text-align: center; margin: 4em; color: #222; }
.frame { border: 6px double #555; padding: 3em; }
.name { font-size: 2.2em; margin: 0.6em 0; }
.course { font-size: 1.6em; font-style: italic; }
.small { font-size: 0.9em; color: #555; margin-top: 3em; }
</style>
</head>
<body>
<div class="frame">
<p>{{ platform_name }} certifies that</p>
<p class="name">{{ learner_name }}</p>
<p>has successfully completed</p>
<p class="course">{{ course_name }}</p>
<p>{{ course_id }} &middot; {{ mode_label }} certificate &middot; issued {{ issued }}</p>
<p class="small">Verification id {{ verify_uuid }}<br>
Verify at <a href="{{ verify_url }}">{{ verify_url }}</a></p>
</div>
</body>
</html>
"""
)

_MODE_LABELS = {
    "verified": "Verified",
    "professional": "Professional",
    "no-id-professional": "Professional",
    "masters": "Master's",
    "executive-education": "Executive Education",
    "honor": "Honor Code",
    "audit": "Audit",
}


def certificate_key(certificates_prefix: str, verify_uuid: str) -> str:
    """Where a certificate's page is kept in the bucket."""
    return f"{certificates_prefix}/{verify_uuid}.html"


def verify_path(verify_uuid: str) -> str:
    return f"/certificates/{verify_uuid}"


def render_html(
    *,
    platform_name: str,
    learner_name: str,
    course_name: str,
    course_id: str,
    mode: str,
    issued: datetime,
    verify_uuid: str,
    base_url: str,
) -> bytes:
    return _TEMPLATE.render(
        platform_name=platform_name,
        learner_name=learner_name,
        course_name=course_name,
        course_id=course_id,
        mode_label=_MODE_LABELS.get(mode, mode.title()),
        issued=issued.strftime("%B %d, %Y").replace(" 0", " "),
        verify_uuid=verify_uuid,
        verify_url=f"{base_url.rstrip('/')}{verify_path(verify_uuid)}",
    ).encode("utf-8")
