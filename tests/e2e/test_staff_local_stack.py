"""Certificates and cohorts on the local stack, as staff run them: the CLI, a real HTTP upload of the
cohort CSV to the S3 form, and the public verification route without any token."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import httpx

from itask.client import ApiClient, download
from itask.seed import DEMO_COURSE

ROOT = Path(__file__).resolve().parents[2]


def itask(stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "itask.cli", "--home", stack.info.home, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def newest(stack, name: str) -> list[list[str]]:
    api = ApiClient(stack.info.api_url, stack.issuer.mint("instructor"))
    downloads = api.reports(DEMO_COURSE).body["downloads"]
    found = next(item for item in downloads if f"_{name}_" in item["name"])
    return list(csv.reader(io.StringIO(download(found["url"]).decode("utf-8"))))


def test_certificates_verify_publicly_and_a_cohort_csv_uploads_to_s3(local_stack, tmp_path):
    # Generate every learner's certificate from the CLI, following the task to its end
    generated = itask(local_stack, "certs", "generate", DEMO_COURSE, "--wait")
    assert generated.returncode == 0, generated.stdout + generated.stderr
    rows = newest(local_stack, "certificate_results")
    assert rows[0][-2:] == ["Outcome", "Reason"]
    issued = [row for row in rows[1:] if row[9] == "generated"]
    assert issued, "the demo course has passing verified learners"
    verify_id = issued[0][8]
    # The verification route answers without any token; a forged id is a 404
    with httpx.Client(base_url=local_stack.info.api_url, timeout=30) as http:
        valid = http.get(f"/certificates/{verify_id}")
        assert valid.status_code == 200 and valid.json()["valid"] is True
        assert valid.json()["course_id"] == DEMO_COURSE
        page = http.get(f"/certificates/{verify_id}/view")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        forged = http.get(f"/certificates/{'ab' * 16}")
        assert forged.status_code == 404
        assert forged.json()["error"] == "No valid certificate has this verification id."
    assert itask(local_stack, "certs", "verify", verify_id).returncode == 0
    # Cohorts: created and turned on by course staff, then a CSV uploaded through the S3 form
    assert itask(local_stack, "cohorts", "add", DEMO_COURSE, "Night owls").returncode == 0
    assert itask(local_stack, "cohorts", "enable", DEMO_COURSE).returncode == 0
    first, second = issued[0][1], rows[1][1]
    data = (
        f"\ufeffusername,cohort\r\n{first},Night owls\r\n\r\n{second},Night owls\r\nghost-user,Night owls\r\n"
    )
    (tmp_path / "cohorts.csv").write_text(data, encoding="utf-8")
    uploaded = itask(local_stack, "cohorts", "upload", DEMO_COURSE, str(tmp_path / "cohorts.csv"), "--wait")
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    added = 1 if first == second else 2
    assert newest(local_stack, "cohort_results") == [
        ["Cohort Name", "Exists", "Learners Added", "Learners Not Found", "Invalid Email Addresses",
         "Preassigned Learners"],
        ["Night owls", "True", str(added), "ghost-user", "", ""],
    ]  # fmt: skip
    # A file that is not UTF-8 is refused before anything is queued (one line from the CLI)
    (tmp_path / "latin1.csv").write_bytes("username,cohort\r\nzoë,Night owls\r\n".encode("latin-1"))
    refused = itask(local_stack, "cohorts", "upload", DEMO_COURSE, str(tmp_path / "latin1.csv"))
    assert refused.returncode == 1 and "must be UTF-8 text" in refused.stderr and "HTTP 400" in refused.stderr
