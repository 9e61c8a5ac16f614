"""Problem-state tasks: rescore, reset, delete-state, override. Each submits, then watches to the end."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from itask.cli.app import AsUser, HelpPanel, app, options
from itask.cli.commands._common import Interval, Timeout, end_of, follow
from itask.cli.output import emit_json
from itask.cli.progress import DEFAULT_INTERVAL_S

Course = Annotated[str, typer.Argument(help="course key")]
Problem = Annotated[str, typer.Argument(help="usage key of the problem (or unit, subsection, course)")]
Student = Annotated[
    str | None,
    typer.Option(help="username or email of one learner; default: every learner", show_default=False),
]
Exam = Annotated[bool, typer.Option("--exam", help="the target is the entrance exam section")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="preview the changes, write nothing")]


def _run(
    ctx: typer.Context,
    task_type: str,
    course: str,
    problem: str,
    student: str | None,
    exam: bool,
    extra: dict[str, Any],
    as_user: str | None,
    timeout: float | None,
    interval: float,
) -> None:
    opts = options(ctx)
    task_input = {"entrance_exam_url" if exam else "problem_url": problem, **extra}
    if student:
        task_input["student"] = student
    with opts.client(as_user, "instructor") as client:
        body = opts.expect(client.submit(course, task_type, task_input), 202)
        emit_json(body)
        final = follow(opts, client, body["task_id"], timeout, interval)
        emit_json(final.get("task_progress"))
        end_of(final)


@app.command(rich_help_panel=HelpPanel.PROBLEMS)
def rescore(
    ctx: typer.Context,
    course: Course,
    problem: Problem,
    student: Student = None,
    exam: Exam = False,
    dry_run: DryRun = False,
    if_higher: Annotated[bool, typer.Option("--if-higher", help="keep old scores that are higher")] = False,
    timeout: Timeout = None,
    interval: Interval = DEFAULT_INTERVAL_S,
    as_user: AsUser = None,
) -> None:
    """Grade stored answers again."""
    task_type = "rescore_problem_if_higher" if if_higher else "rescore_problem"
    extra = {"dry_run": True} if dry_run else {}
    _run(ctx, task_type, course, problem, student, exam, extra, as_user, timeout, interval)


@app.command(rich_help_panel=HelpPanel.PROBLEMS)
def reset(
    ctx: typer.Context,
    course: Course,
    problem: Problem,
    student: Student = None,
    exam: Exam = False,
    timeout: Timeout = None,
    interval: Interval = DEFAULT_INTERVAL_S,
    as_user: AsUser = None,
) -> None:
    """Reset problem attempts to 0."""
    _run(ctx, "reset_problem_attempts", course, problem, student, exam, {}, as_user, timeout, interval)


@app.command("delete-state", rich_help_panel=HelpPanel.PROBLEMS)
def delete_state(
    ctx: typer.Context,
    course: Course,
    problem: Problem,
    student: Student = None,
    exam: Exam = False,
    timeout: Timeout = None,
    interval: Interval = DEFAULT_INTERVAL_S,
    as_user: AsUser = None,
) -> None:
    """Delete learners' state (and score) on a problem."""
    _run(ctx, "delete_problem_state", course, problem, student, exam, {}, as_user, timeout, interval)


@app.command(rich_help_panel=HelpPanel.PROBLEMS)
def override(
    ctx: typer.Context,
    course: Course,
    problem: Problem,
    score: Annotated[float, typer.Option(help="the new score (0 to the problem's maximum)")],
    student: Student = None,
    exam: Exam = False,
    dry_run: DryRun = False,
    timeout: Timeout = None,
    interval: Interval = DEFAULT_INTERVAL_S,
    as_user: AsUser = None,
) -> None:
    """Override one learner's score."""
    extra: dict[str, Any] = {"score": score, **({"dry_run": True} if dry_run else {})}
    _run(ctx, "override_problem_score", course, problem, student, exam, extra, as_user, timeout, interval)
