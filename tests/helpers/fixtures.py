"""Files the tests read, all inside the repository (``tests/fixtures``; see its README for sources).

Open them directly: a missing fixture must fail the test that needs it, never skip it.
"""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DEMO_COURSE_EXPORT = FIXTURES / "openedx-demo-course.tar.gz"  # the Open edX Demo Course, unchanged
