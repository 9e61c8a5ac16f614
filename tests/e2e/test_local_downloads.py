"""Report links of the local stack are checked like S3 checks pre-signed links on AWS (issue #8.12):
moto serves any link, altered or expired, so the local stack issues its own signed links and checks
their signature and expiry before it serves a byte."""

from __future__ import annotations

import os
import stat
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

import pytest

from functions.dal.clients import client as aws_client
from functions.logic import reports
from itask.client import ApiClient, download
from itask.seed import DEMO_COURSE

OTHER_COURSE = "course-v1:OtherX+Secret101+2026_T1"


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def with_query(url: str, **changes: str) -> str:
    split = urlsplit(url)
    query = {name: values[-1] for name, values in parse_qs(split.query).items()} | changes
    return urlunsplit(split._replace(query=urlencode(query)))


def with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


@pytest.fixture(scope="module")
def a_report(local_stack) -> dict:
    """A grade report of the demo course and its listing entry (nothing left running after it)."""
    api = ApiClient(local_stack.info.api_url, local_stack.issuer.mint("instructor"))
    assert api.submit(DEMO_COURSE, "grade_course").status in (202, 409)  # 409: one is running
    deadline = time.monotonic() + 180
    while api.running(DEMO_COURSE).body["tasks"]:
        assert time.monotonic() < deadline, "the course's tasks did not finish"
        time.sleep(0.2)
    listing = api.reports(DEMO_COURSE).body["downloads"]
    assert listing, "no report"
    return listing[0]


def test_links_point_at_the_checked_route_and_download(local_stack, a_report):
    url = a_report["url"]
    assert url.startswith(local_stack.info.api_url + "/local-downloads/")
    assert not url.startswith(local_stack.info.moto_url)
    status, body = fetch(url)
    assert status == 200 and body.startswith(b"Student ID,")
    assert download(url) == body


def test_an_altered_link_is_refused(local_stack, a_report):
    url = a_report["url"]
    signature = parse_qs(urlsplit(url).query)["signature"][0]
    forged = ("0" if signature[0] != "0" else "1") + signature[1:]
    later = str(int(parse_qs(urlsplit(url).query)["expires"][0]) + 3600)
    for altered in (
        with_query(url, signature=forged),
        with_query(url, expires=later),  # a longer life than the one signed
        with_query(url, name="other.csv"),
        with_path(url, urlsplit(url).path + "x"),
    ):
        status, body = fetch(altered)
        assert status == 403, altered
        assert b"Student ID" not in body


def test_a_link_for_one_course_cannot_fetch_another_courses_report(local_stack, a_report):
    # Given another course's report in the same bucket
    settings = local_stack.settings
    secret_key = reports.report_key(settings, OTHER_COURSE, "OtherX_Secret101_2026_T1_grade_report.csv")
    aws_client("s3", settings.region).put_object(
        Bucket=settings.bucket, Key=secret_key, Body=b"Student ID,Grade\n1,0.99\n"
    )
    # When the demo course's link is pointed at it (its object key swapped for the other one)
    own_key = reports.report_key(settings, DEMO_COURSE, a_report["name"])
    path = urlsplit(a_report["url"]).path
    assert quote(own_key, safe="/") in path
    stolen = with_path(a_report["url"], path.replace(quote(own_key, safe="/"), quote(secret_key, safe="/")))
    # Then it is refused
    status, body = fetch(stolen)
    assert status == 403 and b"0.99" not in body


def test_an_expired_link_is_refused(local_stack, monkeypatch):
    # Given links that live one second
    monkeypatch.setitem(os.environ, "ITASK_REPORT_URL_TTL_SECONDS", "1")
    api = ApiClient(local_stack.info.api_url, local_stack.issuer.mint("instructor"))
    url = api.reports(DEMO_COURSE).body["downloads"][0]["url"]
    expires = int(parse_qs(urlsplit(url).query)["expires"][0])
    # When its expiry has passed
    while time.time() <= expires + 1:
        time.sleep(0.1)
    # Then it is refused
    status, _ = fetch(url)
    assert status == 403


def test_the_local_stack_keys_are_generated_and_private(local_stack):
    home = local_stack.home
    for name in ("anonymization-secret", "local-download-secret"):
        path = home / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        assert len(path.read_text().strip()) == 64, name
