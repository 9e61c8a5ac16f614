"""``problem_responses_csv``: learners' state on the problems under some blocks (spec §5.5).

For each requested root, its subtree is walked in course order (chapters, subsections, randomized
libraries and item banks are passed through, not reported) and each problem contributes its learners'
states, ordered by learner: one row per answer field (question, answer, correct answer), or one row
with the raw state when the learner answered nothing. The rows are capped in total at
``settings.problem_responses_max`` (upstream's MAX_PROBLEM_RESPONSES_COUNT), so the report is one unit
of work: the cap is global and sequential (what a block may add depends on the blocks before it).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from functions.dal.report_reads import ReportReads
from functions.errors import BadRequest, TaskNotRunnable
from functions.logic import reports
from functions.logic.capa.parser import RESPONSE_TAGS
from functions.logic.csvfile import encode_rows
from functions.logic.permissions import Permission
from functions.logic.registry import ChunkWork, CsvReportTask, MergeTarget, RunContext, register
from functions.logic.usage_keys import parse_usage_key, usage_key
from functions.models.access import Principal
from functions.models.content import (
    CheckboxSpec,
    MultipleChoiceSpec,
    NumericalSpec,
    OptionSpec,
    ProblemDefinition,
    ResponseSpec,
    StringSpec,
)
from functions.models.course import Block, Course
from functions.models.state import ProblemState
from functions.models.tasks import ChunkDescriptor, Counters, Task

LOCATION_NOT_FOUND = "Could not find problem with this location."
ANSWER_TEXT_MISSING = "Answer Text Missing"
# Walked through but never reported: their state is not useful in this report (spec §5.5).
PASSED_THROUGH = frozenset({"chapter", "sequential", "library_content", "itembank"})
# Block types that hold learner state here (only problems are loaded with state).
STATEFUL = frozenset({"problem"})
LEADING_COLUMNS = ("username", "title", "location")
TRAILING_COLUMNS = ("block_key", "state")
BLOCK_KEYS_OBJECT = "block_keys.json"  # scratch object: the block-provided columns, for finalize

BlockType = Annotated[str, StringConstraints(pattern=r"^[\w-]+$")]


class ProblemResponsesInput(BaseModel):
    """Usage keys (a list, or upstream's comma-joined string) and an optional block-type filter."""

    model_config = ConfigDict(extra="forbid")

    problem_locations: list[str] = Field(min_length=1)
    problem_types_filter: list[BlockType] | None = None

    @field_validator("problem_locations", "problem_types_filter", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list):
            stripped = [item.strip() if isinstance(item, str) else item for item in value]
            return [item for item in stripped if item != ""]
        return value

    @field_validator("problem_types_filter")
    @classmethod
    def _empty_filter_is_none(cls, value: list[str] | None) -> list[str] | None:
        return value or None


def upload_csv_name(task_input: ProblemResponsesInput) -> str:
    """``student_state_from_<key>`` or ``..._from_multiple_blocks``, then ``_for_<filters>``."""
    locations = task_input.problem_locations
    if len(locations) > 1:
        name = "student_state_from_multiple_blocks"
    else:
        name = "student_state_from_" + re.sub(r"[:/]", "_", locations[0])
    if task_input.problem_types_filter:
        name += "_for_" + ",".join(task_input.problem_types_filter)
    return name


def header_row(block_keys: Sequence[str]) -> list[str]:
    return [*LEADING_COLUMNS, *block_keys, *TRAILING_COLUMNS]


# ---------------------------------------------------------------------------------------------
# what is reported: the blocks under the roots, and what each answer field of a problem means
# ---------------------------------------------------------------------------------------------
class BlockRef(BaseModel):
    id: str
    title: str
    location: str  # display names from the course root, " > "-joined
    key: str  # the usage key


class AnswerField(BaseModel):
    question: str
    choices: dict[str, str] = Field(default_factory=dict)  # choice name -> its text
    correct: str | None = None  # the correct answer as text, when the problem says


class ResponsesPlan(BaseModel):
    """The snapshot every chunk reads: blocks in report order and the answer fields of their problems."""

    blocks: list[BlockRef]
    fields: dict[str, dict[str, AnswerField]]


def _name(block: Block) -> str:
    return block.display_name or block.category


def _parents(course: Course) -> dict[str, str]:
    return {child: block.id for block in course.blocks.values() for child in block.children}


def _ancestor_names(course: Course, parents: dict[str, str], block_id: str) -> list[str]:
    names: list[str] = []
    while block_id in parents:
        block_id = parents[block_id]
        names.append(_name(course.blocks[block_id]))
    return names[::-1]


def _subtree(course: Course, block_id: str, path: list[str]) -> Iterator[tuple[Block, list[str]]]:
    """(block, display names from the root down to it), pre-order."""
    block = course.blocks.get(block_id)
    if block is None:
        return
    path = [*path, _name(block)]
    yield block, path
    for child in block.children:
        yield from _subtree(course, child, path)


def reported_blocks(course: Course, roots: Iterable[str], types: Sequence[str] | None) -> list[BlockRef]:
    """The stateful blocks under each root (the root included), in course order, filtered by type."""
    parents = _parents(course)
    found: list[BlockRef] = []
    for root in roots:
        base = _ancestor_names(course, parents, root)
        for block, path in _subtree(course, root, base):
            if block.category in PASSED_THROUGH or (types and block.category not in types):
                continue
            if block.category in STATEFUL:
                found.append(
                    BlockRef(
                        id=block.id,
                        title=_name(block),
                        location=" > ".join(path),
                        key=usage_key(course.course_id, block.category, block.id),
                    )
                )
    return found


def _text(element: ET.Element) -> str:
    return " ".join("".join(element.itertext()).split())


def _response_elements(element: ET.Element) -> Iterator[ET.Element]:
    """Responses in document order, as the problem parser numbers them (not searched inside)."""
    for child in element:
        if isinstance(child.tag, str) and (child.tag in RESPONSE_TAGS or child.tag.endswith("response")):
            yield child
        else:
            yield from _response_elements(child)


def _response_label(response: ET.Element, preceding: list[ET.Element]) -> str | None:
    """The question a response asks: its <label>, a label attribute, else the <p>/<label> before it."""
    label = response.find(".//label")
    if label is not None and _text(label):
        return _text(label)
    for node in response.iter():
        if node.get("label"):
            return str(node.get("label"))
    for node in reversed(preceding):
        if node.tag in ("p", "label") and _text(node):
            return _text(node)
    return None


def _question_labels(definition: ProblemDefinition) -> dict[str, str]:
    """Response id -> the question text, from the problem's XML."""
    try:
        root = ET.fromstring(definition.xml)
    except ET.ParseError:
        return {}
    parents = {child: parent for parent in root.iter() for child in parent}
    labels = {}
    for spec, element in zip(definition.responses, _response_elements(root), strict=False):
        siblings = list(parents[element]) if element in parents else []
        label = _response_label(element, siblings[: siblings.index(element)] if siblings else [])
        if label:
            labels[spec.id] = label
    return labels


def _correct_text(spec: ResponseSpec, input_id: str) -> str | None:
    if isinstance(spec, MultipleChoiceSpec | CheckboxSpec):
        return ", ".join(choice.text for choice in spec.choices if choice.correct == "true") or None
    if isinstance(spec, OptionSpec):
        return spec.correct.get(input_id)
    if isinstance(spec, NumericalSpec):
        return spec.answer
    if isinstance(spec, StringSpec):
        return spec.answers[0] if spec.answers else None
    return None  # graded by script or not at all: the key is not known


def answer_fields(definition: ProblemDefinition) -> dict[str, AnswerField]:
    """Input id -> what the report prints about answers to it."""
    labels = _question_labels(definition)
    fields = {}
    for spec in definition.responses:
        choices = (
            {choice.name: choice.text for choice in spec.choices}
            if isinstance(spec, MultipleChoiceSpec | CheckboxSpec)
            else {}
        )
        for input_spec in spec.inputs:
            fields[input_spec.id] = AnswerField(
                question=labels.get(spec.id, input_spec.id),
                choices=choices,
                correct=_correct_text(spec, input_spec.id),
            )
    return fields


# ---------------------------------------------------------------------------------------------
# rows
# ---------------------------------------------------------------------------------------------
def answer_text(value: Any, answer_field: AnswerField | None) -> str:
    """A stored answer as text: choice names become the choices' texts, lists are comma-joined."""
    if isinstance(value, list):
        return ", ".join(answer_text(item, answer_field) for item in value)
    if isinstance(value, str):
        if value.startswith("choice_") and answer_field is not None and answer_field.choices:
            return answer_field.choices.get(value, ANSWER_TEXT_MISSING)
        return value
    return json.dumps(value)


def state_json(state: ProblemState) -> str:
    """The learner's state as CAPA keeps it (the fields this service stores)."""
    value: dict[str, Any] = {"attempts": state.attempts, "done": state.submitted}
    if state.answers:
        value["student_answers"] = state.answers
    if state.earned is not None and state.possible is not None:
        value["score"] = {"raw_earned": state.earned, "raw_possible": state.possible}
    return json.dumps(value, sort_keys=True)


def answer_reports(state: ProblemState, fields: dict[str, AnswerField]) -> list[dict[str, str]]:
    """One entry per answer field the learner filled (MathML companions of formulas left out)."""
    found = []
    for input_id, value in state.answers.items():
        if input_id.endswith("_dynamath"):
            continue
        answer_field = fields.get(input_id)
        report = {
            "Answer ID": input_id,
            "Question": answer_field.question if answer_field else input_id,
            "Answer": answer_text(value, answer_field),
        }
        if answer_field is not None and answer_field.correct is not None:
            report["Correct Answer"] = answer_field.correct
        found.append(report)
    return found


@dataclass
class ResponseTable:
    """Rows as dicts, and the block-provided columns in first-seen order (each row's keys sorted)."""

    rows: list[dict[str, str]] = field(default_factory=list)
    block_keys: dict[str, None] = field(default_factory=dict)

    def add_state(
        self, block: BlockRef, state: ProblemState, username: str, fields: dict[str, AnswerField], room: int
    ) -> int:
        """Add the state's rows, at most ``room`` of them; returns how many were added."""
        base = {
            "username": username,
            "title": block.title,
            "location": block.location,
            "block_key": block.key,
            "state": state_json(state),
        }
        added = [{**base, **report} for report in answer_reports(state, fields)] or [base]
        added = added[:room]
        for row in added:
            self.block_keys.update(dict.fromkeys(sorted(set(row) - set(base))))
        self.rows += added
        return len(added)

    def lists(self) -> list[Sequence[Any]]:
        columns = header_row(list(self.block_keys))
        return [[row.get(column, "") for column in columns] for row in self.rows]


# ---------------------------------------------------------------------------------------------
# the task type
# ---------------------------------------------------------------------------------------------
@register
class ProblemResponses(CsvReportTask):
    name = "problem_responses_csv"
    action_name = "generated"
    permission = Permission.RESEARCH
    input_model = ProblemResponsesInput
    report_label = "problem responses"
    csv_name = "student_state"  # completed per task by upload_csv_name
    chunk_size = 1  # the whole report is one unit: the row cap is global and sequential
    running_step = "Calculating students answers to problem"
    finalizing_step = "Uploading CSV"
    done_step = "CSV uploaded"

    def validate(
        self, ctx: RunContext, principal: Principal, course_id: str, task_input: BaseModel
    ) -> BaseModel:
        assert isinstance(task_input, ProblemResponsesInput)
        course = ctx.courses.get_course(course_id)
        if course is None:
            raise BadRequest(LOCATION_NOT_FOUND)
        for location in task_input.problem_locations:
            _block_of(course, location)
        return task_input

    def prepare(self, ctx: RunContext, task: Task, task_input: BaseModel) -> dict[str, Any]:
        assert isinstance(task_input, ProblemResponsesInput)
        course = ctx.courses.get_course(task.course_id)
        if course is None:
            raise TaskNotRunnable(f"Course {task.course_id} does not exist")
        roots = [_block_of(course, location) for location in task_input.problem_locations]
        blocks = reported_blocks(course, roots, task_input.problem_types_filter)
        wanted = {block.id for block in blocks}
        definitions = ctx.courses.get_problems(task.course_id) if wanted else {}
        fields = {pid: answer_fields(definition) for pid, definition in definitions.items() if pid in wanted}
        return ResponsesPlan(blocks=blocks, fields=fields).model_dump(mode="json")

    def plan_population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> tuple[list[int], int]:
        return [0], 1  # one unit, as upstream counts it (total 1) until the rows are known

    def population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> Iterable[int]:
        return [0]

    def header(self, snapshot: dict[str, Any]) -> Sequence[str]:
        # Known once the rows are: finalize adds them to the snapshot it passes here.
        return header_row(snapshot.get("block_keys", []))

    def process_chunk(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        snapshot: dict[str, Any],
        chunk: ChunkDescriptor,
    ) -> ChunkWork:
        plan = ResponsesPlan.model_validate(snapshot)
        cap = ctx.settings.problem_responses_max
        table = collect_rows(ReportReads(ctx.settings), task.course_id, plan, cap)
        # The header depends on the rows (block-provided columns): finalize reads it from here.
        ctx.objects.put_json(ctx.work_key(task.task_id, BLOCK_KEYS_OBJECT), list(table.block_keys))
        rows = table.lists()
        return ChunkWork(rows=rows, counters=Counters(attempted=len(rows), succeeded=len(rows)))

    def merge_targets(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any], chunk_count: int
    ) -> list[MergeTarget]:
        assert isinstance(task_input, ProblemResponsesInput)
        block_keys = ctx.objects.get_json(ctx.work_key(task.task_id, BLOCK_KEYS_OBJECT))
        name = upload_csv_name(task_input)
        when = reports.unused_time(ctx.objects, ctx.settings, task.course_id, [name], self.report_time(task))
        filename = reports.report_filename(task.course_id, name, when)
        return [
            MergeTarget(
                key=reports.report_key(ctx.settings, task.course_id, filename),
                header=encode_rows([self.header({**snapshot, "block_keys": block_keys})]),
                parts=[ctx.part_key(task.task_id, index) for index in range(chunk_count)],
                output={"report_name": filename},
            )
        ]


def collect_rows(reads: ReportReads, course_id: str, plan: ResponsesPlan, cap: int) -> ResponseTable:
    """Rows block by block, each block's learners in user-id order, until ``cap`` rows in all."""
    table = ResponseTable()
    usernames: dict[int, str] = {}
    looked_up: set[int] = set()
    room = cap
    for block in plan.blocks:
        if room <= 0:
            break
        # Every state gives at least one row, so more than ``room`` states are never needed.
        states = list(reads.iter_problem_states(course_id, block.id, room))
        unknown = {state.user_id for state in states} - looked_up
        usernames.update(reads.usernames(course_id, unknown))
        looked_up |= unknown
        fields = plan.fields.get(block.id, {})
        for state in states:
            room -= table.add_state(block, state, usernames.get(state.user_id, ""), fields, room)
            if room <= 0:
                break
    return table


def _block_of(course: Course, location: str) -> str:
    """The block id a usage key names in this course; 400 with upstream's text otherwise."""
    key = parse_usage_key(location, course.course_id)
    if key is None:
        raise BadRequest(LOCATION_NOT_FOUND)
    block = course.blocks.get(key.block_id)
    if block is None or block.category != key.category:
        raise BadRequest(LOCATION_NOT_FOUND)
    return block.id
