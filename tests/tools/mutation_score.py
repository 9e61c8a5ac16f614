"""The mutation score of `make mutation`, per module, from mutmut's results in ``mutants/``.

Killed (a test failed) and timed out (the mutant hung a test, which a test run notices) count as
caught; survived, "no tests" and "suspicious" do not. Writes ``build/mutation/report.md`` (the
score table and the diff of every mutant not caught) and fails when the score over the modules
that keep tasks safe drops below the floor.

    python -m tests.tools.mutation_score
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

FLOOR = 85.0
CAUGHT = {"killed", "timeout", "caught by type check"}
# mutmut's exit codes (mutmut/stats.py): what each result means.
STATUS = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
}
STATUS.update(dict.fromkeys((-24, 24, 152, 255), "timeout"))
STATUS[37] = "caught by type check"
OUT = Path("build/mutation/report.md")


def results() -> dict[str, dict[str, str]]:
    """module path -> {mutant name: status}."""
    found: dict[str, dict[str, str]] = {}
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        module = str(meta.relative_to("mutants"))[: -len(".meta")]
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        found[module] = {
            name: STATUS.get(code, "not checked" if code is None else "suspicious")
            for name, code in codes.items()
        }
    return found


def show(mutant: str) -> str:
    shown = subprocess.run(
        [str(Path(sys.executable).parent / "mutmut"), "show", mutant],
        capture_output=True,
        text=True,
        check=False,
    )
    return shown.stdout.strip()


def main() -> int:
    by_module = results()
    if not by_module:
        print("no mutmut results in mutants/: run `make mutation`", file=sys.stderr)
        return 1
    lines = [
        f"# Mutation score ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `make mutation`)",
        "",
        "| module | mutants | checked | caught | survived | no tests | other | score (of checked) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    total, checked, caught = 0, 0, 0
    missed: list[str] = []
    for module, statuses in by_module.items():
        counts = Counter(statuses.values())
        module_checked = len(statuses) - counts["not checked"]
        module_caught = sum(counts[status] for status in CAUGHT)
        other = module_checked - module_caught - counts["survived"] - counts["no tests"]
        # a module none of whose mutants ran has no score (not 100 %)
        shown = f"{100.0 * module_caught / module_checked:.1f}%" if module_checked else "not run"
        lines.append(
            f"| `{module}` | {len(statuses)} | {module_checked} | {module_caught} | {counts['survived']} "
            f"| {counts['no tests']} | {other} | {shown} |"
        )
        total += len(statuses)
        checked += module_checked
        caught += module_caught
        missed += [
            name for name, status in sorted(statuses.items()) if status not in CAUGHT | {"not checked"}
        ]
    score = 100.0 * caught / checked if checked else 100.0
    lines += [
        f"| **all** | {total} | {checked} | {caught} | | | | **{score:.1f}%** |",
        "",
        "## Not caught",
        "",
    ]
    for name in missed:
        lines += [f"### `{name}` ({_status(by_module, name)})", "", "```diff", show(name), "```", ""]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[: 4 + len(by_module) + 1]))
    print(f"\n{len(missed)} mutants not caught; their diffs are in {OUT}")
    if checked < total:
        print(f"only {checked} of {total} mutants were checked: the run is incomplete", file=sys.stderr)
        return 1
    if score < FLOOR:
        print(f"mutation score {score:.1f}% is below the floor of {FLOOR}%", file=sys.stderr)
        return 1
    return 0


def _status(by_module: dict[str, dict[str, str]], name: str) -> str:
    return next(statuses[name] for statuses in by_module.values() if name in statuses)


if __name__ == "__main__":
    sys.exit(main())
