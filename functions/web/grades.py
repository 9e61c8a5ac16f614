"""Grades: the grade distribution of the newest grade report (or a chosen one) as a chart, and the
diff between any two grade reports (a ``grade_report_diff`` task, whose result page draws it).

Research roles only, as the grade reports' downloads are (the API's permission).
"""

from __future__ import annotations

from functions.errors import AlreadyRunning, BadRequest
from functions.logic import insights, service
from functions.web import charts
from functions.web.views import Answer, Visitor, course_path, redirect, render


def grades_page(
    visitor: Visitor, course_id: str, report: str | None = None, problem: str = "", status: int = 200
) -> Answer:
    service.course_tasks(visitor.api, visitor.principal, course_id, limit=1)  # the course's checks
    found = insights.grade_distribution(visitor.api, visitor.principal, course_id, report)
    chart = charts.bar_chart(
        "report-grades",
        f"Learners by grade in {found['report']}" if found["report"] else "Learners by grade",
        "Grade",
        insights.bin_labels(),
        [("Learners", found["bins"])],
    )
    available = found["available"]
    return render(
        "grades.html",
        status,
        visitor=visitor,
        course_id=course_id,
        found=found,
        chart=chart,
        available=available,
        before=available[1] if len(available) > 1 else "",
        after=available[0] if available else "",
        problem=problem,
        headers={"Cache-Control": "no-store"},
    )


def diff(visitor: Visitor, course_id: str, form: dict[str, str]) -> Answer:
    """Compare two grade reports: submit the diff task and open its result page."""
    chosen = {name: form.get(name, "").strip()[:255] for name in ("before", "after")}
    try:
        result = service.submit_task(
            visitor.api,
            visitor.principal,
            course_id,
            "grade_report_diff",
            {name: value for name, value in chosen.items() if value},
        )
    except (AlreadyRunning, BadRequest) as error:
        return grades_page(visitor, course_id, problem=error.message, status=error.status)
    return redirect(course_path(course_id, f"results/{result['task_id']}"))
