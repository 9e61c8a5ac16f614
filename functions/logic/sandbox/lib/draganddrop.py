"""The ``draganddrop`` module CAPA's drag-and-drop problems call: ``grade(user_input, correct_answer)``.

Re-implemented from Open edX's documentation of drag and drop input (not from its AGPL code).

* ``user_input``: the stored answer, a JSON list of one-key objects ``{"draggable id": target}``,
  where the target is a target id or the ``[x, y]`` point the draggable was dropped on (also
  accepted: an object ``{"draggables": [...]}`` holding that list).
* ``correct_answer``, short form: ``{draggable: target id}`` or ``{draggable: [[x, y], radius]}``
  (a point and how far from it the drop may be; ``[x, y]`` alone allows 10 pixels); long form: a
  list of ``{"draggables": [...], "targets": [...], "rule": ...}`` groups, every one of which must
  hold. Rules: ``exact`` (the i-th draggable on the i-th target), ``unordered_equal`` (the group's
  drops are the targets, in any order), ``anyof`` (every drop on one of the targets), and
  ``anyof+number`` / ``unordered_equal+number`` (also exactly as many drops as the group lists).
* Every draggable the learner dropped must belong to some group: an extra drop is wrong.

Drops on targets that are themselves draggables (nested answers) are not supported: ``grade``
raises ``ValueError``, which fails that learner's rescore with a clear message.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

DEFAULT_RADIUS = 10.0
RULES = ("exact", "unordered_equal", "anyof", "anyof+number", "unordered_equal+number")


def _drops(user_input: Any) -> list[tuple[str, Any]]:
    data = json.loads(user_input) if isinstance(user_input, str) else user_input
    if isinstance(data, dict) and "draggables" in data:
        data = data["draggables"]
    if not isinstance(data, list):
        raise ValueError("the drag and drop answer is not a list of drops")
    drops: list[tuple[str, Any]] = []
    for item in data:
        if not isinstance(item, dict) or len(item) != 1:
            raise ValueError("each drop must be one {draggable: target} pair")
        ((draggable, target),) = item.items()
        if isinstance(target, dict):
            raise ValueError("drops on draggable targets are not supported by this grader")
        drops.append((str(draggable), target))
    return drops


def _groups(correct_answer: Any) -> list[dict[str, Any]]:
    if isinstance(correct_answer, dict):
        return [
            {"draggables": [str(draggable)], "targets": [target], "rule": "exact"}
            for draggable, target in correct_answer.items()
        ]
    if not isinstance(correct_answer, list):
        raise ValueError("correct_answer must be a dict or a list of groups")
    groups = []
    for group in correct_answer:
        rule = str(group.get("rule", "")).replace("+numbers", "+number")
        if rule not in RULES:
            raise ValueError(f"unknown drag and drop rule {group.get('rule')!r}")
        groups.append(
            {
                "draggables": [str(d) for d in group["draggables"]],
                "targets": list(group["targets"]),
                "rule": rule,
            }
        )
    return groups


def _is_point(value: Any) -> bool:
    return (
        isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int | float) for v in value)
    )


def _on(drop: Any, target: Any) -> bool:
    """Whether a drop lands on a target: the same id, or a point within the target's radius."""
    if _is_point(target) or (isinstance(target, list | tuple) and len(target) == 2 and _is_point(target[0])):
        center, radius = (target, DEFAULT_RADIUS) if _is_point(target) else (target[0], float(target[1]))
        if not _is_point(drop):
            return False
        return abs(drop[0] - center[0]) <= radius and abs(drop[1] - center[1]) <= radius
    return not _is_point(drop) and str(drop) == str(target)


def _matches_in_any_order(drops: list[Any], targets: list[Any]) -> bool:
    """Each drop on a different target, every target used once (a small matching, by search)."""
    if len(drops) != len(targets):
        return False
    if all(not _is_point(d) for d in drops) and all(isinstance(t, str | int) for t in targets):
        return Counter(map(str, drops)) == Counter(map(str, targets))

    def assign(index: int, free: list[Any]) -> bool:
        if index == len(drops):
            return True
        return any(
            _on(drops[index], target) and assign(index + 1, free[:position] + free[position + 1 :])
            for position, target in enumerate(free)
        )

    return assign(0, list(targets))


def grade(user_input: Any, correct_answer: Any) -> bool:
    drops = _drops(user_input)
    groups = _groups(correct_answer)
    grouped = {draggable for group in groups for draggable in group["draggables"]}
    if any(draggable not in grouped for draggable, _ in drops):
        return False
    for group in groups:
        members = set(group["draggables"])
        placed = [target for draggable, target in drops if draggable in members]
        rule = group["rule"]
        if rule == "exact":
            by_draggable = {draggable: target for draggable, target in drops if draggable in members}
            if len(placed) != len(group["draggables"]) or any(
                draggable not in by_draggable or not _on(by_draggable[draggable], target)
                for draggable, target in zip(group["draggables"], group["targets"], strict=False)
            ):
                return False
        elif rule.startswith("unordered_equal"):
            if not _matches_in_any_order(placed, group["targets"]):
                return False
            if rule.endswith("+number") and len(placed) != len(group["draggables"]):
                return False
        else:  # anyof
            if not placed or not all(
                any(_on(drop, target) for target in group["targets"]) for drop in placed
            ):
                return False
            if rule.endswith("+number") and len(placed) != len(group["draggables"]):
                return False
    return True
