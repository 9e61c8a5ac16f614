"""Every upstream v2 report type is made by a task type this service registers."""

from functions.logic import registry
from functions.logic.openedx_v2 import REPORT_TYPES

# Upstream's ReportType values (lms/djangoapps/instructor/constants.py, 2026), named by issue #17.
UPSTREAM_REPORT_TYPES = {
    "enrolled_students",
    "pending_enrollments",
    "pending_activations",
    "anonymized_student_ids",
    "grade",
    "problem_grade",
    "problem_responses",
    "ora2_summary",
    "ora2_data",
    "ora2_submission_files",
    "issued_certificates",
}


def test_every_upstream_report_type_maps_to_a_registered_task_type():
    assert set(REPORT_TYPES) == UPSTREAM_REPORT_TYPES
    missing = {name: r.task_type for name, r in REPORT_TYPES.items() if registry.get(r.task_type) is None}
    assert missing == {}
