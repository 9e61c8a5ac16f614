"""The `itask` CLI as a user runs it: against the local stack by URL and token only (a subprocess), a
device-code sign-in against a stand-in OpenID provider, and every failure as one line and an exit code.

Most cases call the CLI's entry point in this process (`cli`), which is the same code a subprocess
runs, minus the interpreter start; the scenario and the Ctrl-C cases run it as a subprocess.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from itask.cli import main
from itask.seed import DEMO_COURSE
from tests.helpers.standins import Gateway, OidcProvider, running

ROOT = Path(__file__).resolve().parents[2]
CLI_ENV = ("ITASK_HOME", "ITASK_API_URL", "ITASK_TOKEN", "ITASK_CONFIG_DIR", "ITASK_OIDC_ISSUER",
           "ITASK_OIDC_CLIENT_ID", "ITASK_DEBUG")  # fmt: skip


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in CLI_ENV and key != "COLUMNS"}
    env.update(ITASK_CONFIG_DIR=str(tmp_path / "config"), PYTHONPATH=str(ROOT), **extra)
    return env


def itask(*args: str, env: dict[str, str], cwd: Path, timeout: float = 300) -> Result:
    """The CLI as a subprocess, as a user runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "itask.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(done.returncode, done.stdout, done.stderr)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path) -> Callable[..., Result]:
    """The CLI's real entry point in this process (quicker than a subprocess): arguments, the
    environment it reads, stdout, stderr and the exit code, as a subprocess would see them."""
    for key in CLI_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("ITASK_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)

    def run(*args: str, **env: str) -> Result:
        capsys.readouterr()
        with monkeypatch.context() as scoped:
            for key, value in env.items():
                scoped.setenv(key, value)
            code = main(list(args))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def one_line_failure(result: Result, code: int = 1) -> str:
    """The failure is exactly one line on stderr, prefixed `itask: `, with no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("itask: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connecting to it is refused, and nothing else can take it."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


# --- the e2e scenario by URL and token only ------------------------------------------------------------


def test_the_scenario_runs_against_the_local_stack_by_url_and_token_only(local_stack, tmp_path):
    # Given: an empty home and working directory (no stack.json, no signing key), the API URL and a token
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    env = env_for(
        tmp_path,
        ITASK_HOME=str(home),
        ITASK_API_URL=local_stack.info.api_url,
        ITASK_TOKEN=local_stack.issuer.mint("instructor"),
    )
    # When: submit a grade report and wait for it
    submitted = itask("submit", DEMO_COURSE, "--type", "grade_course", "--wait", env=env, cwd=work)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    task_id = json.loads(submitted.stdout[: submitted.stdout.index("\n}") + 2])["task_id"]
    assert "SUCCESS  600/600 (100%)" in submitted.stdout  # the watch ran to the end
    # Then: its status, the listing and the download agree
    status = itask("status", task_id, env=env, cwd=work)
    assert status.returncode == 0, status.stderr
    final = json.loads(status.stdout)
    assert final["task_state"] == "SUCCESS" and final["task_progress"]["succeeded"] == 600
    report = final["task_progress"]["report_name"]
    listing = itask("reports", DEMO_COURSE, "--links", env=env, cwd=work)
    assert listing.returncode == 0 and report in listing.stdout, listing.stdout + listing.stderr
    fetched = itask("reports", DEMO_COURSE, "--download", "--name", report, "--out", "got", env=env, cwd=work)
    assert fetched.returncode == 0, fetched.stderr
    assert "(600 rows," in fetched.stdout
    rows = list(csv.reader(io.StringIO((work / "got" / report).read_text())))
    assert rows[0][:4] == ["Student ID", "Email", "Username", "Grade"] and len(rows) == 601
    history = itask("tasks", DEMO_COURSE, "--all", env=env, cwd=work)
    assert history.returncode == 0 and task_id in history.stdout
    # and nothing local was used or created
    assert list(home.iterdir()) == []
    assert sorted(path.name for path in work.iterdir()) == ["got"]


def test_with_api_local_only_commands_say_so(local_stack, cli):
    api = local_stack.info.api_url
    for args in (["seed"], ["seed-answers", DEMO_COURSE], ["serve"], ["demo"]):
        line = one_line_failure(cli("--api", api, *args, ITASK_TOKEN="x"))
        assert f"`itask {args[0]}` only works on the local stack, not on --api {api}" in line
    as_user = cli("--api", api, "submit", "--as", "staff", ITASK_TOKEN="x")
    assert "--as staff picks a user of the local stack" in one_line_failure(as_user)
    assert f"no token for {api}: set ITASK_TOKEN" in one_line_failure(cli("--api", api, "tasks"))


def test_help_shows_defaults_and_usage_errors_are_one_line(cli):
    helped = cli("submit", "--help", COLUMNS="200")
    assert helped.returncode == 0
    assert "default: grade_course" in helped.stdout and "default: 0.5" in helped.stdout
    missing = cli("rescore", DEMO_COURSE)
    assert "Missing argument" in one_line_failure(missing, code=2)
    assert "itask rescore --help" in missing.stderr


# --- device-code sign-in --------------------------------------------------------------------------------


def login(cli, provider: OidcProvider, api_url: str) -> Result:
    return cli("--api", api_url, "login", "--issuer", provider.issuer, "--client-id", "itask-cli")


def test_device_code_sign_in_then_every_call_uses_the_stored_token(local_stack, cli, tmp_path):
    # Given: a provider that says "pending" twice before the user approves
    token = local_stack.issuer.mint("instructor")
    provider = OidcProvider(
        device_answers=["authorization_pending", "authorization_pending", "grant"], tokens=[token]
    )
    api = local_stack.info.api_url
    with running(provider):
        signed_in = login(cli, provider, api)
    # Then: the user saw the code and where to enter it; the polls kept the interval
    assert signed_in.returncode == 0, signed_in.stdout + signed_in.stderr
    assert f"open {provider.url}/activate and enter the code WDJB-MJHT" in signed_in.stdout
    assert provider.count(lambda seen: seen.path == "/token") == 3
    assert provider.count(lambda seen: seen.path == "/.well-known/openid-configuration") == 1
    assert provider.too_early == 0
    # and the token is stored for that API only, readable by the user only
    path = tmp_path / "config" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    stored = json.loads(path.read_text())
    assert list(stored) == [api] and stored[api]["access_token"] == token
    assert stored[api]["refresh_token"] == "refresh-1"
    # When: a command runs against that API with no ITASK_TOKEN, it is the signed-in user
    listed = cli("--api", api, "tasks", "--all")
    assert listed.returncode == 0, listed.stderr
    assert cli("--api", api, "token").stdout.strip() == token
    # and another deployment does not get this token
    assert "no token for http://127.0.0.1:9" in one_line_failure(cli("--api", "http://127.0.0.1:9", "tasks"))
    # logout forgets it
    assert "signed out" in cli("--api", api, "logout").stdout
    assert json.loads(path.read_text()) == {}


def test_slow_down_widens_the_polling_interval(cli):
    provider = OidcProvider(device_answers=["slow_down", "grant"], tokens=["t"])
    with running(provider):
        result = login(cli, provider, "http://127.0.0.1:9")
    assert result.returncode == 0, result.stderr
    # After slow_down the provider demands interval + 5 s; a client that ignored it would be too early.
    assert provider.count(lambda seen: seen.path == "/token") == 2
    assert provider.too_early == 0


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ("access_denied", "the sign-in was refused at the provider"),
        ("expired_token", "the sign-in code expired before it was approved"),
    ],
)
def test_a_refused_or_expired_sign_in_is_one_line(cli, tmp_path, answer, says):
    provider = OidcProvider(device_answers=[answer])
    with running(provider):
        result = login(cli, provider, "http://127.0.0.1:9")
    assert says in one_line_failure(result)
    assert not (tmp_path / "config" / "credentials.json").exists()


def test_an_issuer_without_discovery_or_that_refuses_the_client_is_one_line(cli):
    with running(Gateway()) as gateway:  # answers 404 to discovery
        result = cli("--api", "http://127.0.0.1:9", "login", "--issuer", gateway.url, "--client-id", "x")
    assert f"no OpenID configuration at {gateway.url}/.well-known/openid-configuration" in one_line_failure(
        result
    )
    provider = OidcProvider(client_id="someone-else")
    with running(provider):
        refused = login(cli, provider, "http://127.0.0.1:9")
    assert "refused the sign-in request: invalid_client" in one_line_failure(refused)


def test_an_expired_token_is_refreshed_before_use(local_stack, cli, tmp_path):
    tokens = [local_stack.issuer.mint("instructor"), local_stack.issuer.mint("instructor", ttl_seconds=7200)]
    provider = OidcProvider(tokens=tokens, expires_in=0)  # expired as soon as it is stored
    api = local_stack.info.api_url
    with running(provider):
        assert login(cli, provider, api).returncode == 0
        listed = cli("--api", api, "tasks")
    assert listed.returncode == 0, listed.stderr
    assert provider.count(lambda seen: seen.form.get("grant_type") == "refresh_token") == 1
    stored = json.loads((tmp_path / "config" / "credentials.json").read_text())[api]
    assert stored["access_token"] == tokens[1]


def test_a_refused_token_is_refreshed_once_and_the_call_retried(local_stack, cli):
    provider = OidcProvider(tokens=["not-a-jwt", local_stack.issuer.mint("instructor")])
    api = local_stack.info.api_url
    with running(provider):
        assert login(cli, provider, api).returncode == 0
        listed = cli("--api", api, "tasks")
    assert listed.returncode == 0, listed.stderr
    assert provider.count(lambda seen: seen.form.get("grant_type") == "refresh_token") == 1


def test_a_sign_in_that_cannot_be_renewed_is_one_line(local_stack, cli):
    provider = OidcProvider(tokens=["not-a-jwt"], refresh_fails=True)
    api = local_stack.info.api_url
    with running(provider):
        assert login(cli, provider, api).returncode == 0
        line = one_line_failure(cli("--api", api, "tasks"))
    assert f"the sign-in for {api} has expired and could not be renewed" in line
    assert "invalid_grant: refresh token revoked" in line


def _ctrl_c_reaches_the_cli() -> None:
    """A background job (``make test &``) starts with SIGINT ignored, and children inherit that: give
    the CLI the terminal's default so the Ctrl-C these tests send reaches it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_while_waiting_for_sign_in_is_one_line(tmp_path):
    provider = OidcProvider(device_answers=["authorization_pending"])  # never approved
    with running(provider):
        process = subprocess.Popen(
            [sys.executable, "-m", "itask.cli", "--api", "http://127.0.0.1:9", "login",
             "--issuer", provider.issuer, "--client-id", "itask-cli"],
            cwd=tmp_path, env=env_for(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=_ctrl_c_reaches_the_cli,
        )  # fmt: skip
        provider.wait_for(lambda seen: seen.path == "/token")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 130, out + err
    assert err.splitlines() == ["itask: interrupted"]


# --- failures: one line each, non-zero exit -------------------------------------------------------------


def test_api_refusals_print_the_api_message(local_stack, cli):
    home = local_stack.info.home
    unknown = cli("--home", home, "submit", "--type", "no_such_task")
    assert "Unknown task type: 'no_such_task'" in one_line_failure(unknown)
    assert "(HTTP 400 Bad Request)" in unknown.stderr
    assert "(HTTP 403 Forbidden)" in one_line_failure(cli("--home", home, "submit", "--as", "staff"))
    assert "(HTTP 404 Not Found)" in one_line_failure(cli("--home", home, "status", "no-such-task"))
    bad_token = cli("--api", local_stack.info.api_url, "tasks", ITASK_TOKEN="garbage")
    assert "Unauthorized (HTTP 401 Unauthorized); the API refused the token" in one_line_failure(bad_token)


def test_server_errors_and_foreign_pages_are_one_line(cli):
    with running(Gateway()) as gateway:
        json_500 = cli("--api", gateway.url, "tasks", "broken", ITASK_TOKEN="t")
    assert "Internal error; the request id is in the logs (HTTP 500" in one_line_failure(json_500)
    page = "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
    with running(Gateway(broken=(502, page))) as gateway:
        html_502 = cli("--api", gateway.url, "tasks", "broken", ITASK_TOKEN="t")
    assert "502 Bad Gateway (HTTP 502 Bad Gateway)" in one_line_failure(html_502)


def test_bad_input_is_one_line(local_stack, cli, tmp_path):
    home = local_stack.info.home
    not_json = cli("--home", home, "submit", "--input", "{not json")
    assert "--input is not valid JSON" in one_line_failure(not_json)
    not_object = cli("--home", home, "submit", "--input", "[1, 2]")
    assert "--input must be a JSON object, not list" in one_line_failure(not_object)
    no_file = cli("--home", home, "import-course", str(tmp_path / "missing.tar.gz"))
    assert "does not exist" in one_line_failure(no_file, code=2)
    a_directory = cli("--home", home, "load", DEMO_COURSE, "state", str(tmp_path))
    assert "is a directory" in one_line_failure(a_directory, code=2)
    broken = tmp_path / "state.jsonl"
    broken.write_text('{"user_id": 1}\n{not json\n')
    loaded = cli("--home", home, "load", DEMO_COURSE, "state", str(broken))
    assert "(HTTP 400 Bad Request)" in one_line_failure(loaded)


def test_a_stale_or_missing_stack_json_is_detected(cli, tmp_path, closed_port):
    exited = subprocess.Popen([sys.executable, "-c", "pass"])  # a process that has exited (and is reaped)
    exited.wait()
    url = f"http://127.0.0.1:{closed_port}"
    home = tmp_path / "home"
    home.mkdir()
    record = {"api_url": url, "moto_url": url, "region": "us-east-1", "home": str(home)}
    (home / "stack.json").write_text(json.dumps({**record, "pid": exited.pid}))
    gone = cli("--home", str(home), "submit", "--wait")
    assert f"is not running (its process {exited.pid} has exited)" in one_line_failure(gone)
    (home / "stack.json").write_text(json.dumps({**record, "pid": os.getpid()}))
    silent = cli("--home", str(home), "seed")
    assert f"(process {os.getpid()}) does not answer at {url}" in one_line_failure(silent)
    (home / "stack.json").unlink()
    assert "no local stack is running from" in one_line_failure(cli("--home", str(home), "reports"))


def test_an_api_that_is_gone_is_one_line(cli, closed_port):
    url = f"http://127.0.0.1:{closed_port}"
    result = cli("--api", url, "--retries", "1", "submit", "--wait", ITASK_TOKEN="t")
    assert f"cannot reach {url}: connection refused" in one_line_failure(result)


def test_serve_on_a_taken_port_or_a_running_home_is_one_line(local_stack, cli, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        api_port = cli("--home", str(tmp_path / "a"), "serve", "--port", port)
        moto_port = cli("--home", str(tmp_path / "b"), "serve", "--port", "0", "--moto-port", port)
    assert f"port {port} is already in use (--port)" in one_line_failure(api_port)
    assert f"port {port} is already in use (--moto-port)" in one_line_failure(moto_port)
    twice = cli("--home", local_stack.info.home, "serve", "--port", "0")
    assert f"a local stack is already running from {local_stack.info.home}" in one_line_failure(twice)


def test_waiting_has_no_ceiling_and_a_slow_status_read_is_retried(cli):
    # A task that takes 40 status reads, and a first read that hangs past the HTTP timeout.
    with running(Gateway(progress_reads=40, hang_first_read=True)) as gateway:
        result = cli(
            "--api", gateway.url, "--http-timeout", "1", "submit", "c", "--wait", "--interval", "0.05",
            ITASK_TOKEN="t",
        )  # fmt: skip
        reads = gateway.reads
    assert result.returncode == 0, result.stdout + result.stderr
    assert reads == 41  # the hung read, its retry, then every read until SUCCESS
    assert "SUCCESS  10/10 (100%) read 41" in result.stdout


def test_timeout_bounds_the_wait_and_the_task_keeps_running(cli):
    with running(Gateway()) as gateway:  # never finishes
        result = cli(
            "--api", gateway.url, "submit", "c", "--wait", "--timeout", "0.3", "--interval", "0.05",
            ITASK_TOKEN="t",
        )  # fmt: skip
    line = one_line_failure(result)
    assert "task task-1 is still PROGRESS after --timeout 0.3s; it keeps running" in line


def test_ctrl_c_while_watching_says_the_task_keeps_running(tmp_path):
    with running(Gateway()) as gateway:  # never finishes
        process = subprocess.Popen(
            [sys.executable, "-m", "itask.cli", "--api", gateway.url,
             "submit", "c", "--wait", "--interval", "0.05"],
            cwd=tmp_path, env=env_for(tmp_path, ITASK_TOKEN="t"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_ctrl_c_reaches_the_cli,
        )  # fmt: skip
        gateway.wait_for(lambda seen: seen.path == "/tasks/task-1", at_least=2)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 130, out + err
    assert err.splitlines() == [
        "itask: stopped watching; task task-1 keeps running "
        "(`itask status task-1 --watch` to follow it, `itask cancel task-1` to stop it)"
    ]
