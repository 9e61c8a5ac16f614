"""The grading sandbox: problems graded by their own Python (custom checks, drag and drop, answer keys
computed by a script) run in a limited child process, behind a separate grader function on AWS.

Trust boundary: a course author's Python is untrusted. It runs only in ``child.py``'s process, which
has no credentials, no network, no writable files, no new processes, limited memory and CPU, and a
wall-clock limit per learner; only JSON data (answers in, verdicts out) crosses the boundary. See
docs/sandbox.md.
"""
