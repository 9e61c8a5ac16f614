"""Course email on the local stack as a user drives it: the `itask email` commands over HTTP (a message
written in a file, previewed, sent and waited for, listed), the message read back from moto's SES,
and its unsubscribe link followed through the public route (no bearer token)."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from urllib.parse import quote, urlsplit

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


def test_the_cli_lists_shows_edits_and_cancels_scheduled_emails_and_the_clock_sends_them(
    local_stack, tmp_path, capsys
):
    """`itask email schedules ...` over the real HTTP adapter (spec §6.7's routes), then the local
    clock moved past the new time: the rule sends the edited email once; the cancelled one never."""
    from datetime import datetime, timedelta

    from itask.client import ApiClient

    home = ["--home", str(local_stack.home), "--http-timeout", "300"]
    admin = ApiClient(local_stack.info.api_url, local_stack.issuer.mint("admin"), timeout_s=120)
    instructor = ApiClient(local_stack.info.api_url, local_stack.issuer.mint("instructor"), timeout_s=120)
    now = datetime.fromisoformat(admin.request("GET", "/_local/clock").body["now"])
    message = tmp_path / "later.html"
    message.write_text("<p>Hello %%USER_FULLNAME%%</p>", encoding="utf-8")
    mailbox = Mailbox(local_stack.settings.region)
    capsys.readouterr()

    def ours() -> list[tuple[str, str]]:
        """(address, subject) of the messages of these emails (other schedules may mail reports)."""
        return [
            (to, str(sent["Subject"]))
            for to in ("instructor@example.org", "staff@example.org")
            for sent in mailbox.messages_to(to)
            if sent["Subject"] in ("Later", "Doomed", "Moved")
        ]

    def run(*args: str) -> tuple[int, str, str]:
        code = itask([*home, *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    written = {}
    for subject, to in (("Later", "staff"), ("Doomed", "myself")):
        due = (now + timedelta(hours=3)).isoformat()
        args = ["email", "send", DEMO_COURSE, "--subject", subject, "--file", str(message), "--to", to]
        code, out, err = run(*args, "--schedule", due, "--as", "instructor")
        assert code == 0, err
        written[subject] = json.loads(out[: out.index("}") + 1])
    listed = instructor.request(
        "GET", f"/api/instructor_task/v1/schedules/{quote(DEMO_COURSE, safe='')}/bulk_email/"
    ).body["results"]
    ids = {row["course_email"]["subject"]: row["id"] for row in listed}
    code, out, _ = run("email", "schedules", "list", DEMO_COURSE, "--as", "staff")
    assert code == 0 and ids["Later"] in out and ids["Doomed"] in out, out
    code, out, _ = run("email", "schedules", "show", DEMO_COURSE, ids["Later"], "--as", "staff")
    shown = json.loads(out)
    assert (shown["task"], shown["course_email"]["targets"]) == (written["Later"]["task_id"], ["staff"])
    # Move it a day later, with a new subject and target
    moved_to = (now + timedelta(days=1)).replace(microsecond=0)
    args = ["email", "schedules", "edit", DEMO_COURSE, ids["Later"], "--at", moved_to.isoformat()]
    code, out, err = run(*args, "--subject", "Moved", "--to", "myself", "--as", "instructor")
    assert code == 0, err
    changed = json.loads(out)
    assert datetime.fromisoformat(changed["task_due"]) == moved_to
    assert (changed["course_email"]["subject"], changed["course_email"]["targets"]) == ("Moved", ["myself"])
    # A past time is refused with upstream's words; nothing to change is refused before any request
    code, _, err = run("email", "schedules", "edit", DEMO_COURSE, ids["Later"], "--at", "2020-01-01T00:00:00")
    assert code == 1 and "the updated schedule occurs in the past" in err, err
    code, _, err = run("email", "schedules", "edit", DEMO_COURSE, ids["Later"])
    assert code != 0 and "nothing to change" in err
    # Cancel the other: its task is REVOKED, the schedule gone
    code, out, _ = run("email", "schedules", "cancel", DEMO_COURSE, ids["Doomed"], "--as", "instructor")
    assert code == 0 and f"cancelled scheduled email {ids['Doomed']}" in out
    assert instructor.status(written["Doomed"]["task_id"]).body["task_state"] == "REVOKED"
    code, _, err = run("email", "schedules", "show", DEMO_COURSE, ids["Doomed"])
    assert code == 1 and "a schedule with this ID does not exist" in err
    # A data researcher may not touch them (email is course staff's)
    assert run("email", "schedules", "list", DEMO_COURSE, "--as", "researcher")[0] != 0
    assert ours() == []
    # The clock passes the new time: the rule sends the edited email, once, to its new target
    seconds = int(
        (moved_to - datetime.fromisoformat(admin.request("GET", "/_local/clock").body["now"])).total_seconds()
    )
    advanced = admin.request("POST", "/_local/clock", {"advance_seconds": max(0, seconds) + 2})
    assert advanced.status == 200, advanced.body
    task_id = written["Later"]["task_id"]
    deadline = time.monotonic() + 180
    while instructor.status(task_id).body["in_progress"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert instructor.status(task_id).body["task_state"] == "SUCCESS"
    assert ours() == [("instructor@example.org", "Moved")]
    # Later ticks send nothing more; a sent email can no longer be edited (409)
    assert admin.request("POST", "/_local/clock", {"advance_seconds": 3600}).status == 200
    assert ours() == [("instructor@example.org", "Moved")]
    code, _, err = run("email", "schedules", "edit", DEMO_COURSE, ids["Later"], "--subject", "Too late")
    assert code == 1 and "this task has already been processed" in err, err
