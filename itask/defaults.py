"""Names shared by the seeders and the CLI, kept apart so the CLI starts without importing the seeders."""

DEMO_COURSE = "course-v1:DemoX+Grading101+2026_T1"
