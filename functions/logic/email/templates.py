"""The packaged Jinja2 templates: course email wrappers (HTML and text) and the unsubscribe pages.

Kept in a module (not .j2 files) because the functions' code asset carries Python files only. Each
email template is a pair ``<name>.html`` / ``<name>.txt``; ``message_body`` is the staff's message
with its keywords filled in (already escaped for HTML), everything else is escaped by autoescape.
"""

from __future__ import annotations

EMAIL_TEMPLATES: dict[str, str] = {
    "default.html": """<!DOCTYPE html>
<html lang="{{ language }}">
<head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="font-family: sans-serif; line-height: 1.5;">
<div class="course-email">{{ message_body }}</div>
<hr>
<p style="font-size: small; color: #555;">
This email was sent to {{ email }} by the staff of {{ course_title }} ({{ course_id }})
on {{ platform_name }}.
<a href="{{ unsubscribe_link }}">Unsubscribe</a> from this course's email.
</p>
</body>
</html>
""",
    "default.txt": """{{ message_body }}

--
This email was sent to {{ email }} by the staff of {{ course_title }} ({{ course_id }})
on {{ platform_name }}.
Unsubscribe from this course's email: {{ unsubscribe_link }}
""",
    # The message alone, with the footer the law asks for (no greeting, no branding).
    "plain.html": """<!DOCTYPE html>
<html lang="{{ language }}"><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body>{{ message_body }}
<p><a href="{{ unsubscribe_link }}">Unsubscribe</a></p></body></html>
""",
    "plain.txt": """{{ message_body }}

Unsubscribe: {{ unsubscribe_link }}
""",
}

PAGE_TEMPLATES: dict[str, str] = {
    "page.html": """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto;">
<h1>{{ title }}</h1>
<p>{{ text }}</p>
{% if action %}
<form method="post" action="{{ action }}">
<button type="submit">{{ button }}</button>
</form>
{% endif %}
</body>
</html>
""",
}


def email_template_names() -> list[str]:
    return sorted({name.rsplit(".", 1)[0] for name in EMAIL_TEMPLATES})
