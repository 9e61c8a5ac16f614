"""Course email on the local stack as a user drives it: the `itask email` commands over HTTP (a message
written in a file, previewed, sent and waited for, listed), the message read back from moto's SES,
and its unsubscribe link followed through the public route (no bearer token)."""

from __future__ import annotations

import json
import re
import urllib.request
from urllib.parse import urlsplit

from functions.dal.email_repo import EmailRepository
from itask.cli import main as itask
from itask.seed import DEMO_COURSE
from tests.helpers.mailbox import Mailbox, parts

BODY = "<p>Dear %%USER_FULLNAME%%,</p><p>week 3 of %%COURSE_ID%% opens <b>today</b>.</p>"
SUBJECT = "Week 3 is open"


def _out(capsys) -> str:
    return capsys.readouterr().out


def test_write_preview_send_list_and_unsubscribe(local_stack, tmp_path, capsys):
    # (a generous HTTP timeout: the first request to the api function imports it, slow on a busy machine)
    home = ["--home", str(local_stack.home), "--http-timeout", "300"]
    message = tmp_path / "week3.html"
    message.write_text(BODY, encoding="utf-8")
    mailbox = Mailbox(local_stack.settings.region)
    capsys.readouterr()
    # Preview: the instructor's own message, rendered, with the one-click headers; nothing sent
    args = ["email", "preview", DEMO_COURSE, "--subject", SUBJECT, "--file", str(message)]
    assert itask([*home, *args, "--as", "instructor"]) == 0
    shown = _out(capsys)
    assert "To: instructor@example.org" in shown
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in shown
    assert f"week 3 of {DEMO_COURSE} opens today" in shown
    assert mailbox.total() == 0
    # Send to myself and staff (the instructor is both: one copy), waiting for the task to end
    args = ["email", "send", DEMO_COURSE, "--subject", SUBJECT, "--file", str(message)]
    code = itask([*home, *args, "--to", "myself", "--to", "staff", "--wait", "--as", "instructor"])
    printed = _out(capsys)
    assert code == 0, printed
    written = json.loads(printed[: printed.index("}") + 1])
    counts = mailbox.counts()
    assert counts == {"instructor@example.org": 1, "staff@example.org": 1}, counts
    # Lists: the content list and the task history show the send and its counts
    assert itask([*home, "email", "list", DEMO_COURSE, "--as", "staff"]) == 0
    listed = _out(capsys)
    assert SUBJECT in listed and "2 sent" in listed
    assert itask([*home, "email", "history", DEMO_COURSE, "--as", "staff"]) == 0
    assert written["task_id"] in _out(capsys)
    assert itask([*home, "email", "show", DEMO_COURSE, str(written["email_id"]), "--as", "staff"]) == 0
    described = json.loads(_out(capsys))
    assert described["subject"] == SUBJECT and sorted(described["targets"]) == ["myself", "staff"]
    # A data researcher may not send (email is course staff's): a refusal, nothing sent
    assert itask([*home, *args, "--to", "learners", "--as", "researcher"]) != 0
    assert mailbox.total() == 2
    # The staff member follows the unsubscribe link of the delivered message: GET shows a page and
    # changes nothing; POST (the page's button) records the opt-out
    (delivered,) = mailbox.messages_to("staff@example.org")
    text, _ = parts(delivered)
    link = re.search(r"https?://\S+/email/unsubscribe/\S+", text)
    assert link, text
    assert urlsplit(link.group(0)).netloc == urlsplit(local_stack.info.api_url).netloc
    with urllib.request.urlopen(link.group(0), timeout=30) as page:
        assert page.status == 200 and b"Unsubscribe" in page.read()
    repo = EmailRepository(local_stack.settings)
    assert not repo.is_opted_out(DEMO_COURSE, 3)
    post = urllib.request.Request(link.group(0), data=b"", method="POST")
    with urllib.request.urlopen(post, timeout=30) as page:
        assert page.status == 200 and b"no longer receive" in page.read()
    assert repo.is_opted_out(DEMO_COURSE, 3)
