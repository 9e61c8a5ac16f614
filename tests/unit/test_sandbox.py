"""The grading sandbox: the child process's limits and refusals, CAPA's check conventions, drag and drop.

These run real child processes (no mocks): each refusal is what the author's code met.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from functions.logic.sandbox import jail, service
from functions.logic.sandbox.lib import draganddrop
from functions.models.content import CustomSpec, ProblemDefinition
from functions.models.sandbox import CustomCheck, GradeBatch, SandboxJob, SandboxProblem
from functions.settings import Settings

FAST = jail.Limits(job_timeout_s=1.0, cpu_s=1, memory_mb=256)


def batch(
    script: str, given: list, cfn: str | None = "check", expect: str | None = None, **extra
) -> GradeBatch:
    check = CustomCheck(id="p_2", input_ids=["p_2_1"], cfn=cfn, expect=expect, answer_code=extra.get("code"))
    problem = SandboxProblem(
        problem_id="p", script=script, checks=[check], variables=extra.get("variables", [])
    )
    jobs = [
        SandboxJob(key=str(index), answers={"p_2_1": value}, seed=extra.get("seed", 1))
        for index, value in enumerate(given)
    ]
    return GradeBatch(problem=problem, jobs=jobs)


def run(script: str, given: list, **kwargs) -> list:
    result = jail.run_batch(batch(script, given, **kwargs), FAST, time.monotonic() + 60)
    assert [found.key for found in result.results] == [str(index) for index in range(len(given))]
    return [found.error or found.verdicts["p_2"] for found in result.results]


# ---------------------------------------------------------------------------------------------
# CAPA's check conventions
# ---------------------------------------------------------------------------------------------
def test_what_a_check_function_returns_becomes_correctness_and_points():
    script = """
def check(expect, given):
    return {
        "true": True,
        "false": False,
        "text-false": "false",
        "ok": {"ok": True, "msg": "well done"},
        "partial": {"ok": "Partial"},
        "partial-decimal": {"ok": "partial", "grade_decimal": 0.3},
        "list": {"input_list": [{"ok": False}]},
        "over": {"ok": True, "grade_decimal": 7},
        "none": None,
    }[given]
"""
    got = run(
        script, ["true", "false", "text-false", "ok", "partial", "partial-decimal", "list", "over", "none"]
    )
    assert got == [
        [("correct", 1.0)],
        [("incorrect", 0.0)],
        [("incorrect", 0.0)],  # the string "false" is false, as in CAPA
        [("correct", 1.0)],
        [("partially-correct", 0.5)],  # CAPA's default partial credit
        [("partially-correct", 0.3)],
        [("incorrect", 0.0)],
        [("correct", 1.0)],  # a grade_decimal above 1 is held to 1
        [("incorrect", 0.0)],
    ]


def test_expect_names_script_variables_and_answer_code_sets_correct():
    assert run(
        "answer = 6 * 7\ndef check(expect, given):\n    return given == expect",
        ["42", "41"],
        expect="$answer",
    ) == [
        [("correct", 1.0)],
        [("incorrect", 0.0)],
    ]
    code = "correct = ['correct' if submission[0] == expect else 'incorrect']"
    assert run("", ["x", "y"], cfn=None, expect="x", code=code) == [[("correct", 1.0)], [("incorrect", 0.0)]]


def test_nothing_entered_is_incorrect_without_running_the_check():
    assert run("def check(expect, given):\n    raise RuntimeError('called')", [""]) == [[("incorrect", 0.0)]]


def test_the_learners_seed_drives_random_and_variables_come_back_as_text():
    script = "x = random.randint(1, 10**9)\ndef check(expect, given):\n    return True"
    results = {}
    for seed in (1, 1, 2):
        found = jail.run_batch(
            batch(script, ["a"], seed=seed, variables=["x", "seed"]), FAST, time.monotonic() + 60
        )
        results.setdefault(seed, []).append(found.results[0].values)
    assert results[1][0] == results[1][1]  # the same learner, the same values every rescore
    assert results[1][0]["x"] != results[2][0]["x"]
    assert results[2][0]["seed"] == "2"


def test_author_errors_are_reported_with_their_line():
    assert run("def check(expect, given):\n    return 1 / 0", ["a"]) == [
        "the check of p_2 failed: ZeroDivisionError: division by zero (line 2 of problem script)"
    ]
    assert run("def check(expect, given) return", ["a"]) == [
        "the problem's Python does not compile: expected ':' (line 1)"
    ]
    assert run("x = 1", ["a"]) == ["the check function 'check' is not defined by the problem's script"]
    assert run("import numpy\ndef check(e, g):\n    return True", ["a"]) == [
        "the problem's script failed: ModuleNotFoundError: No module named 'numpy' (line 1 of problem script)"
    ]


# ---------------------------------------------------------------------------------------------
# limits and refusals
# ---------------------------------------------------------------------------------------------
LOOPS_ON_LOOP = (
    "def check(expect, given):\n    while given == 'loop':\n        pass\n    return given == 'ok'"
)


def test_a_looping_check_is_stopped_and_the_next_learners_are_graded():
    got = run(LOOPS_ON_LOOP, ["ok", "loop", "ok", "no"])
    assert got[0] == [("correct", 1.0)]
    assert got[1].startswith("the problem's Python was stopped: it ")
    assert "time limit" in got[1] or "CPU time limit" in got[1]
    assert got[2:] == [[("correct", 1.0)], [("incorrect", 0.0)]]


def test_a_script_that_loops_for_everyone_costs_three_timeouts_not_one_per_learner():
    got = run("while True:\n    pass", ["a"] * 6)
    assert all(message.startswith("the problem's Python was stopped") for message in got[:3])
    assert all(message.startswith("not run: the problem's Python exceeded its limits") for message in got[3:])


def test_learners_past_the_deadline_are_left_for_another_call():
    result = jail.run_batch(
        batch("def check(e, g):\n    return True", ["a", "b"]), FAST, time.monotonic() + 1
    )
    assert (result.results, result.not_run) == ([], ["0", "1"])


class _Counter(BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_the_network_is_out_of_reach():
    _Counter.hits = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    script = f"""
import socket, urllib.request
def check(expect, given):
    if given == "urllib":
        urllib.request.urlopen("http://127.0.0.1:{port}/", timeout=1)
    if given == "socket":
        socket.create_connection(("127.0.0.1", {port}), timeout=1)
    return True
"""
    try:
        got = run(script, ["urllib", "socket"])
    finally:
        server.shutdown()
        server.server_close()
    assert all("network access is not allowed in the grading sandbox" in message for message in got)
    assert _Counter.hits == 0


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
        ("open('written.txt', 'w').write('x')", "writing files is not allowed"),
        ("import os; os.remove('/etc/hostname')", "os.remove is not allowed"),
        ("import os; return open(f'/proc/{os.getppid()}/environ').read()", "reading /proc/"),
        ("import subprocess; subprocess.run(['true'])", "subprocess.Popen is not allowed"),
        ("import os; os.system('true')", "os.system is not allowed"),
        ("import os, signal; os.kill(os.getppid(), signal.SIGTERM)", "os.kill is not allowed"),
        ("import ctypes; ctypes.CDLL(None)", "ctypes.dlopen is not allowed"),
        ("return input()", "builtins.input is not allowed"),
        ("return 'x' * (1 << 30)", "ran out of memory"),
    ],
)
def test_what_the_sandbox_refuses(body, refusal):
    (message,) = run(f"def check(expect, given):\n    {body}", ["a"])
    assert refusal in message


def test_the_child_sees_none_of_our_environment(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    script = "import os\ndef check(expect, given):\n    return 'AWS_SECRET_ACCESS_KEY' not in os.environ"
    assert run(script, ["a"]) == [[("correct", 1.0)]]


def test_without_a_grader_function_every_learner_fails_with_the_reason():
    definition = CustomSpec(id="p_2", type="customresponse", cfn="check")
    problem = ProblemDefinition(id="p", xml="", responses=[definition], rescorable=True, script="")
    found = service.grade_in_sandbox(Settings(grader_function=""), problem, [SandboxJob(key="1")])
    assert found["1"].error == service.NO_GRADER


# ---------------------------------------------------------------------------------------------
# drag and drop (Open edX's documented rules)
# ---------------------------------------------------------------------------------------------
def drops(*pairs: tuple[str, object]) -> str:
    return json.dumps([{name: target} for name, target in pairs])


@pytest.mark.parametrize(
    ("given", "correct", "expected"),
    [
        # short form: draggable -> target id, or -> [[x, y], radius]
        (drops(("1", "t1"), ("name", "t2")), {"1": "t1", "name": "t2"}, True),
        (drops(("1", "t2"), ("name", "t1")), {"1": "t1", "name": "t2"}, False),
        (drops(("grass", [310, 190])), {"grass": [[300, 200], 20]}, True),
        (drops(("grass", [340, 190])), {"grass": [[300, 200], 20]}, False),
        (drops(("grass", [305, 195])), {"grass": [300, 200]}, True),  # 10 pixels by default
        # an extra draggable the answer does not list is wrong
        (drops(("1", "t1"), ("2", "t1")), {"1": "t1"}, False),
        # exact: each draggable on its own target
        (
            drops(("7", "a"), ("8", "b")),
            [{"draggables": ["7", "8"], "targets": ["a", "b"], "rule": "exact"}],
            True,
        ),
        (
            drops(("7", "b"), ("8", "a")),
            [{"draggables": ["7", "8"], "targets": ["a", "b"], "rule": "exact"}],
            False,
        ),
        # unordered_equal: in any order, each target once
        (
            drops(("7", "b"), ("8", "a")),
            [{"draggables": ["7", "8"], "targets": ["a", "b"], "rule": "unordered_equal"}],
            True,
        ),
        (
            drops(("7", "a"), ("8", "a")),
            [{"draggables": ["7", "8"], "targets": ["a", "b"], "rule": "unordered_equal"}],
            False,
        ),
        # anyof: any of the targets, several on one is fine
        (
            drops(("7", "a"), ("8", "a")),
            [{"draggables": ["7", "8"], "targets": ["a", "b"], "rule": "anyof"}],
            True,
        ),
        (
            drops(("7", "a"), ("8", "c")),
            [{"draggables": ["7", "8"], "targets": ["a", "b"], "rule": "anyof"}],
            False,
        ),
        # reusable draggables: +number counts the drops
        (
            drops(("b", "t2"), ("b", "t5")),
            [{"draggables": ["b", "b"], "targets": ["t2", "t5", "t8"], "rule": "anyof+number"}],
            True,
        ),
        (
            drops(("b", "t2"), ("b", "t5"), ("b", "t8")),
            [{"draggables": ["b", "b"], "targets": ["t2", "t5", "t8"], "rule": "anyof+number"}],
            False,
        ),
        (
            drops(("a", "t1"), ("a", "t10")),
            [{"draggables": ["a", "a"], "targets": ["t10", "t1"], "rule": "unordered_equal+number"}],
            True,
        ),
        # the answer may be wrapped in {"draggables": [...]}
        (json.dumps({"draggables": [{"1": "t1"}]}), {"1": "t1"}, True),
    ],
)
def test_drag_and_drop_rules(given, correct, expected):
    assert draganddrop.grade(given, correct) is expected


def test_drag_and_drop_refuses_what_it_cannot_read():
    with pytest.raises(ValueError):
        draganddrop.grade("not json", {"1": "t1"})
    with pytest.raises(ValueError, match="draggable targets"):
        draganddrop.grade(json.dumps([{"up": {"1": {"p": "p_l"}}}]), {"up": "p"})
    with pytest.raises(ValueError, match="unknown drag and drop rule"):
        draganddrop.grade(drops(("1", "t1")), [{"draggables": ["1"], "targets": ["t1"], "rule": "near"}])


@pytest.mark.parametrize(
    ("given", "correct", "expected"),
    [
        # dropped points matched to point targets (each within its own radius), in any order
        (
            json.dumps([{"1": [11, 12]}, {"2": [52, 49]}]),
            [
                {
                    "draggables": ["1", "2"],
                    "targets": [[[50, 50], 3], [[10, 10], 3]],
                    "rule": "unordered_equal",
                }
            ],
            True,
        ),
        (
            json.dumps([{"1": [11, 12]}, {"2": [55, 49]}]),  # 5 pixels off a radius of 3
            [
                {
                    "draggables": ["1", "2"],
                    "targets": [[[50, 50], 3], [[10, 10], 3]],
                    "rule": "unordered_equal",
                }
            ],
            False,
        ),
        # a target id where a point is expected is not on it
        (drops(("1", "t1")), {"1": [10, 10]}, False),
        # +number: as many drops as the group lists draggables, even when each target is matched
        (
            drops(("a", "t1"), ("a", "t2")),
            [{"draggables": ["a", "a", "a"], "targets": ["t1", "t2"], "rule": "unordered_equal+number"}],
            False,
        ),
    ],
)
def test_drag_and_drop_points_and_counts(given, correct, expected):
    assert draganddrop.grade(given, correct) is expected


@pytest.mark.parametrize(
    ("given", "correct", "message"),
    [
        (json.dumps({"1": "t1"}), {"1": "t1"}, "not a list of drops"),
        (json.dumps([{"1": "t1", "2": "t2"}]), {"1": "t1"}, "one {draggable: target} pair"),
        (json.dumps(["t1"]), {"1": "t1"}, "one {draggable: target} pair"),
        (drops(("1", "t1")), "t1", "must be a dict or a list of groups"),
    ],
)
def test_drag_and_drop_says_what_it_cannot_read(given, correct, message):
    with pytest.raises(ValueError, match=message):
        draganddrop.grade(given, correct)
