"""Import an Open edX OLX course export (a .tar.gz) into a ``Course`` and its problem definitions.

Pure parsing: the archive is read in memory (nothing is extracted to disk) and no course code is run.
Layout read (paths are relative to the archive's top folder, e.g. ``course/``):

* ``course.xml``: ``<course url_name=RUN org=ORG course=NUMBER/>``, pointing to ``course/RUN.xml``;
* the block tree: a block is either inline in its parent's XML or a pointer ``<chapter url_name="x"/>``
  whose body is ``chapter/x.xml``;
* ``policies/RUN/policy.json``: ``"course/RUN"`` and ``"<category>/<url_name>"`` entries overriding
  the XML's fields; ``policies/RUN/grading_policy.json``: the GRADER list and GRADE_CUTOFFS.

Content that cannot be used (unknown block types, broken XML in one file, missing pointer files, bad
policy values) never stops the import: the block is kept as far as it is known and a warning is
recorded. Only an archive without a usable ``course.xml`` is an error (``OlxError``).

Hostile archives are refused with ``OlxError`` before they cost much: a member named outside the
archive (absolute, ``..``), a link pointing outside it, a device or FIFO, more than ``MAX_MEMBERS``
members, more than ``MAX_EXPANDED_BYTES`` once decompressed (counted as it is decompressed, and from
each member's declared size before its data is read), XML and JSON beyond ``MAX_TEXT_BYTES``, a course
tree nested deeper than ``MAX_BLOCK_DEPTH`` blocks. An XML file nested deeper than ``MAX_XML_DEPTH``
elements is unreadable (a warning; a refusal for the course body). Links are never followed.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import math
import os
import tarfile
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

from functions.logic import olx_checks, olx_members, olx_scored
from functions.logic.capa import parse_problem
from functions.logic.keys import block_id_in, course_id_of
from functions.models.bounds import MAX_SCORE
from functions.models.content import ImportedCourse, ProblemDefinition
from functions.models.course import (
    DEFAULT_GRADERS,
    Block,
    Course,
    GraderEntry,
    GradingPolicy,
    PartitionGroup,
    UserPartition,
)

# Blocks whose XML children are blocks too; any other block's XML is its own content (a video's
# <source> tags, an ORA's rubric, a problem's responses) and is not walked.
CONTAINER_CATEGORIES = frozenset(
    {
        "course",
        "chapter",
        "sequential",
        "vertical",
        "unit",
        "library_content",
        "itembank",
        "split_test",
        "conditional",
        "randomize",
        "problemset",
        "videosequence",
        "wrapper",
    }
)
# Children of containers that are settings of their parent, not blocks.
NON_BLOCK_TAGS = frozenset({"wiki", "textbook", "show"})
CERTIFICATE_DISPLAY_BEHAVIORS = frozenset({"end", "end_with_date", "early_no_info"})
# GRADER keys that only affect how the progress page labels an assignment type.
GRADER_DISPLAY_KEYS = frozenset(
    {"category", "section_type", "show_only_average", "hide_average", "starting_index"}
)
# Course XML and policies are small; this bounds the memory a hostile archive can make us use.
MAX_TEXT_BYTES = 64 * 1024 * 1024
# The whole archive once decompressed (static assets included): bounds the time spent decompressing
# and the memory tar headers can take (tarfile reads an extended header whole).
MAX_EXPANDED_BYTES = 256 * 1024 * 1024
# Members of any type: a real export has hundreds to a few thousand.
MAX_MEMBERS = 50_000
# Real courses are 5 to 10 blocks deep (course, chapter, subsection, unit, split tests, problems).
# Tasks walk the tree recursively: this keeps every walk far from Python's recursion limit.
MAX_BLOCK_DEPTH = 50
# Elements nested in one XML file (a problem's HTML included).
MAX_XML_DEPTH = 128
# Magic numbers of the compressions an export may come in; anything else is read as a plain tar.
_GZIP, _BZIP2, _XZ = b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00"
# What the decompressors and tarfile raise on damaged or truncated input.
_UNREADABLE = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError)
# Static assets (images, videos, PDFs, data files: most of a real export's size) are never read: a
# course's XML and JSON outside them is all the importer uses.
STATIC_FOLDERS = olx_members.STATIC_FOLDERS


class OlxError(ValueError):
    """The archive is not a usable OLX export (not a tar archive, no course.xml, no course body)."""


def import_course(archive: bytes | IO[bytes]) -> ImportedCourse:
    """Import an OLX export given as the bytes of a .tar.gz (.tar.bz2, .tar.xz or plain .tar) archive,
    or as a binary stream of them (an upload read from S3 piece by piece: one pass, and only the XML
    and JSON members are kept, so memory does not grow with the static assets)."""
    try:
        # Stream mode: one sequential pass, so a compressed archive is never re-read to seek back.
        # We decompress (tarfile would too) so that every decompressed byte is counted.
        stream = cast(IO[bytes], _Expanded(archive, MAX_EXPANDED_BYTES))  # tarfile only calls read()
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            files = _ArchiveFiles.read_all(tar)
    except _UNREADABLE as error:  # not a tar, or truncated / corrupt
        raise OlxError(f"not a readable tar archive: {error}") from error
    return _Importer(files).run()


def import_course_file(path: str | os.PathLike[str]) -> ImportedCourse:
    """Import an OLX export from a .tar.gz file."""
    return import_course(Path(path).read_bytes())


# ---------------------------------------------------------------------------------------------
# the archive
# ---------------------------------------------------------------------------------------------
class _Expanded:
    """The archive's tar stream, decompressed as it is read, refused past ``limit`` bytes."""

    def __init__(self, archive: bytes | IO[bytes], limit: int):
        self._source = _decompressing(archive)
        self._limit = limit
        self._total = 0

    def read(self, size: int = -1) -> bytes:
        room = self._limit + 1 - self._total
        data = self._source.read(room if size < 0 else min(size, room))
        self._total += len(data)
        if self._total > self._limit:
            raise OlxError(f"the archive expands to more than {self._limit} bytes")
        return data


def _decompressing(archive: bytes | IO[bytes]) -> IO[bytes]:
    # Readers over memory or over the caller's stream (which the caller closes).
    raw: IO[bytes]
    if isinstance(archive, bytes):
        raw, magic = io.BytesIO(archive), archive[:6]
    else:
        buffered = io.BufferedReader(cast(io.RawIOBase, archive)) if not hasattr(archive, "peek") else archive
        raw, magic = buffered, cast(io.BufferedReader, buffered).peek(6)[:6]
    if magic.startswith(_GZIP):
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    if magic.startswith(_BZIP2):
        return bz2.BZ2File(raw, mode="rb")
    if magic.startswith(_XZ):
        return lzma.LZMAFile(raw, mode="rb")
    return raw


def _outside(path: str) -> bool:
    """Whether a member name (or a link target resolved against the archive root) leaves the archive."""
    if path.startswith("/"):
        return True
    depth = 0
    for part in path.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/") or ".." in name.split("/"):
        raise OlxError(f"the archive member {name!r} is named outside the archive")
    if member.ischr() or member.isblk() or member.isfifo():
        raise OlxError(f"the archive member {name!r} is a device or FIFO")
    if member.issym() or member.islnk():
        # A symbolic link resolves from its own folder, a hard link from the archive root.
        base = str(PurePosixPath(name).parent) + "/" if member.issym() else ""
        if member.linkname.startswith("/") or _outside(base + member.linkname):
            raise OlxError(f"the archive member {name!r} links outside the archive")


class _ArchiveFiles:
    """The archive's XML and JSON files (static assets are skipped), by path relative to the folder
    holding ``course.xml``."""

    def __init__(self, files: dict[str, bytes]):
        candidates = sorted(
            (len(path.parts), str(path.parent))
            for path in map(PurePosixPath, files)
            if path.name == "course.xml" and len(path.parts) <= 2
        )
        if not candidates:
            raise OlxError("the archive has no course.xml (at its root or in its top folder)")
        top = candidates[0][1]
        prefix = "" if top == "." else top + "/"
        self._files = {name[len(prefix) :]: data for name, data in files.items() if name.startswith(prefix)}

    @classmethod
    def read_all(cls, tar: tarfile.TarFile) -> _ArchiveFiles:
        files: dict[str, bytes] = {}
        total = expanded = 0
        for count, member in enumerate(tar, 1):
            if count > MAX_MEMBERS:
                raise OlxError(f"the archive has more than {MAX_MEMBERS} members")
            _check_member(member)
            # Declared sizes are known before the data is read: refuse a bomb before inflating it.
            expanded += member.size
            if expanded > MAX_EXPANDED_BYTES:
                raise OlxError(f"the archive expands to more than {MAX_EXPANDED_BYTES} bytes")
            # Links are never followed: only regular files are read.
            if not member.isfile() or not olx_members.importer_reads(member.name):
                continue
            total += member.size
            if total > MAX_TEXT_BYTES:
                raise OlxError(f"the archive's XML and JSON files exceed {MAX_TEXT_BYTES} bytes")
            handle = tar.extractfile(member)
            if handle is not None:
                files[member.name.removeprefix("./")] = handle.read()
        return cls(files)

    def read(self, path: str) -> bytes | None:
        return self._files.get(path)

    def paths(self, folder: str) -> list[str]:
        """Paths of the files directly in ``folder`` (e.g. "problem"), sorted."""
        return sorted(path for path in self._files if PurePosixPath(path).parent == PurePosixPath(folder))


# ---------------------------------------------------------------------------------------------
# the import
# ---------------------------------------------------------------------------------------------
@dataclass
class _Importer:
    files: _ArchiveFiles
    warnings: list[str] = field(default_factory=list)
    policy: dict[str, Any] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # block ids in document (pre-)order
    seen: set[str] = field(default_factory=set)
    blocks: dict[str, Block] = field(default_factory=dict)
    problems: dict[str, ProblemDefinition] = field(default_factory=dict)
    partitions: dict[int, UserPartition] = field(default_factory=dict)
    default_policy: bool = False

    def run(self) -> ImportedCourse:
        pointer = self._course_pointer()
        run, org, number = (pointer.get(key) for key in ("url_name", "org", "course"))
        if not (run and org and number):
            raise OlxError("course.xml must give url_name, org and course")
        course_id = course_id_of(org, number, run)
        if course_id is None:
            raise OlxError(
                f"course.xml's org, course and url_name make no course key: {org!r}, {number!r}, {run!r}"
            )
        if len(pointer) or (pointer.text or "").strip():
            body: ET.Element | None = pointer  # a course written inline in course.xml
        else:
            body, _ = self._load(f"course/{run}.xml")
        if body is None:
            raise OlxError(f"course/{run}.xml is missing or invalid")
        body.set("url_name", run)
        self.policy = self._json(f"policies/{run}/policy.json")
        fields = self._fields(body, "course", run)
        self.partitions = self._user_partitions(fields.get("user_partitions"))
        root = self._visit(body, parent="", position=0, depth=1)
        if root is None:  # cannot happen for the first block, kept for the type checker
            raise OlxError("the course block could not be read")
        course = Course(
            course_id=course_id,
            display_name=self.blocks[root].display_name,
            root=root,
            blocks={block_id: self.blocks[block_id] for block_id in self.order},
            grading_policy=self._grading_policy(run, fields),
            user_partitions=list(self.partitions.values()),
            **self._course_settings(fields),
        )
        orphans = [PurePosixPath(path).stem for path in self.files.paths("problem")]
        self.warnings += olx_checks.course_warnings(
            course,
            self.problems,
            unused_problem_files=[name for name in orphans if name not in self.problems],
            default_policy=self.default_policy,
        )
        return ImportedCourse(course=course, problems=self.problems, warnings=self.warnings)

    # ---- files -----------------------------------------------------------------------------
    def _course_pointer(self) -> ET.Element:
        element, _ = self._load("course.xml")
        if element is None:
            raise OlxError("course.xml is not valid XML")
        return element

    def _load(self, path: str, structure: bool = True) -> tuple[ET.Element | None, str | None]:
        """(parsed root, raw text) of an XML file; a missing or broken file is a warning.

        A file nested deeper than ``MAX_XML_DEPTH`` is unreadable: the archive is refused when the
        file holds the course's structure (course, containers), a warning for any other block.
        """
        data = self.files.read(path)
        if data is None:
            self.warnings.append(f"{path}: file is missing")
            return None, None
        text = data.decode("utf-8", errors="replace")
        try:
            root = ET.fromstring(data)
        except ET.ParseError as error:
            self.warnings.append(f"{path}: invalid XML ({error}); block kept without its content")
            return None, text
        if _xml_depth(root) > MAX_XML_DEPTH:
            if structure:
                raise OlxError(f"{path}: elements nested more than {MAX_XML_DEPTH} deep")
            self.warnings.append(
                f"{path}: elements nested more than {MAX_XML_DEPTH} deep; block kept without its content"
            )
            return None, text
        return root, text

    def _json(self, path: str) -> dict[str, Any]:
        data = self.files.read(path)
        if data is None:
            return {}
        try:
            value = json.loads(data)
        except ValueError as error:
            self.warnings.append(f"{path}: invalid JSON ({error}); ignored")
            return {}
        if not isinstance(value, dict):
            self.warnings.append(f"{path}: expected a JSON object; ignored")
            return {}
        return value

    # ---- blocks ----------------------------------------------------------------------------
    def _visit(self, element: ET.Element, parent: str, position: int, depth: int) -> str | None:
        """Add the block written as ``element`` (and its subtree); returns its id, None if skipped."""
        category = element.tag
        block_id = element.get("url_name") or _generated_id(category, parent, position)
        where = f"{category}/{block_id}"
        if depth > MAX_BLOCK_DEPTH:
            raise OlxError(f"the course tree is nested more than {MAX_BLOCK_DEPTH} blocks deep (at {where})")
        if block_id in self.seen:  # also stops pointer cycles
            self.warnings.append(f"{where}: duplicate block id; only its first use is kept")
            return None
        self.seen.add(block_id)
        self.order.append(block_id)
        definition, source = self._definition(element, category, block_id)
        fields = self._fields(definition, category, block_id)
        children: list[str] = []
        if category in CONTAINER_CATEGORIES:
            blocks = [
                child
                for child in definition
                if isinstance(child.tag, str) and child.tag not in NON_BLOCK_TAGS
            ]
            for index, child in enumerate(blocks):
                child_id = self._visit(child, block_id, index, depth + 1)
                if child_id is not None:
                    children.append(child_id)
        max_score: float | None = None
        weight: float | None = None
        if category == "problem":
            problem = self._problem(block_id, source, fields)
            max_score = None if problem.error else problem.max_score  # an unreadable problem is not scored
            weight = self._float(fields.get("weight"), f"{where}: weight")
        elif category not in CONTAINER_CATEGORIES:
            # Other scored blocks (ORA, LTI, drag and drop, ...): their scores load as block_scores.
            max_score = olx_scored.max_score(
                category, definition, fields, lambda message: self.warnings.append(f"{where}: {message}")
            )
        display_name = _text(fields.get("display_name"))
        if not display_name and category == "openassessment":
            # Open response assessments name themselves in a <title> element, not an attribute.
            display_name = (definition.findtext("title") or "").strip()
        self.blocks[block_id] = Block(
            id=block_id,
            category=category,
            display_name=display_name,
            children=children,
            format=_text(fields.get("format")) or None,
            graded=self._bool(fields.get("graded"), f"{where}: graded"),
            visible_to_staff_only=bool(
                self._bool(fields.get("visible_to_staff_only"), f"{where}: visible_to_staff_only")
            ),
            weight=weight,
            max_score=max_score,
            **self._group_fields(fields, category, where, children),
        )
        return block_id

    def _definition(self, element: ET.Element, category: str, block_id: str) -> tuple[ET.Element, str | None]:
        """The element holding the block's fields and content, and (for problems) its XML text.

        A pointer's body is read from ``<category>/<url_name>.xml`` (``:`` in a url_name is a folder);
        when that file is missing or broken the pointer itself stands in, so the block is kept. The
        text is the file as written (even when broken), None when the file is missing.
        """
        if not _is_pointer(element):
            return element, ET.tostring(element, encoding="unicode") if category == "problem" else None
        loaded, text = self._load(
            f"{category}/{block_id.replace(':', '/')}.xml", structure=category in CONTAINER_CATEGORIES
        )
        return (loaded if loaded is not None else element), text

    def _fields(self, definition: ET.Element, category: str, block_id: str) -> dict[str, Any]:
        """The block's XML attributes, overridden by its policy.json entry."""
        overrides = self.policy.get(f"{category}/{block_id}", {})
        if not isinstance(overrides, dict):
            self.warnings.append(f"policy {category}/{block_id}: expected an object; ignored")
            overrides = {}
        return {**definition.attrib, **overrides}

    def _problem(self, block_id: str, source: str | None, fields: dict[str, Any]) -> ProblemDefinition:
        if source is None:
            problem = ProblemDefinition(
                id=block_id, xml="", error="definition file missing", reason="The problem has no content."
            )
        elif _text_too_deep(source):  # the problem parser walks the XML recursively
            problem = ProblemDefinition(
                id=block_id,
                xml="",
                error=f"XML nested more than {MAX_XML_DEPTH} elements deep",
                reason="The problem XML is nested too deep to read.",
            )
        else:
            problem = parse_problem(block_id, source)
        problem = problem.model_copy(update={"display_name": _text(fields.get("display_name"))})
        self.problems[block_id] = problem
        return problem

    # ---- course settings ---------------------------------------------------------------------
    def _course_settings(self, fields: dict[str, Any]) -> dict[str, Any]:
        settings: dict[str, Any] = {}
        for name in ("start", "end", "certificate_available_date"):
            if fields.get(name) is not None:
                settings[name] = self._datetime(fields[name], f"course: {name}")
        behavior = fields.get("certificates_display_behavior")
        if behavior is not None:
            if behavior in CERTIFICATE_DISPLAY_BEHAVIORS:
                settings["certificates_display_behavior"] = behavior
            else:
                self.warnings.append(
                    f"course: certificates_display_behavior {behavior!r} is not valid; ignored"
                )
        exam = fields.get("entrance_exam_id")
        if fields.get("entrance_exam_enabled") in (True, "true", "True") and isinstance(exam, str) and exam:
            # Stored as a usage key or a bare id; keep the block id.
            settings["entrance_exam_id"] = block_id_in(exam) or exam
        cohort_config = fields.get("cohort_config")
        if isinstance(cohort_config, dict) and cohort_config.get("cohorted") in (True, "true"):
            settings["cohorted"] = True
        return {name: value for name, value in settings.items() if value is not None}

    def _grading_policy(self, run: str, fields: dict[str, Any]) -> GradingPolicy:
        """grading_policy.json, then the course policy's ``grading_policy`` / ``GRADE_CUTOFFS`` over it."""
        raw: dict[str, Any] = self._json(f"policies/{run}/grading_policy.json")
        course_policy = self.policy.get(f"course/{run}", {})
        if isinstance(course_policy, dict):
            if isinstance(course_policy.get("grading_policy"), dict):
                raw = {**raw, **course_policy["grading_policy"]}
            if "GRADE_CUTOFFS" in course_policy:
                raw["GRADE_CUTOFFS"] = course_policy["GRADE_CUTOFFS"]
        self.default_policy = "GRADER" not in raw
        graders = list(DEFAULT_GRADERS) if "GRADER" not in raw else self._graders(raw["GRADER"])
        cutoffs = (
            GradingPolicy().grade_cutoffs
            if "GRADE_CUTOFFS" not in raw
            else self._cutoffs(raw["GRADE_CUTOFFS"])
        )
        return GradingPolicy(graders=graders, grade_cutoffs=cutoffs)

    def _graders(self, entries: Any) -> list[GraderEntry]:
        if not isinstance(entries, list):
            self.warnings.append("grading policy: GRADER is not a list; no assignment types")
            return []
        graders: list[GraderEntry] = []
        for index, entry in enumerate(entries):
            where = f"grading policy: GRADER[{index}]"
            if not isinstance(entry, dict):
                self.warnings.append(f"{where}: not an object; skipped")
                continue
            if "min_count" not in entry:
                self.warnings.append(
                    f"{where} ({entry.get('type')!r}): no min_count (configuration error); skipped"
                )
                continue
            known = {"type", "short_label", "min_count", "drop_count", "weight"}
            unknown = sorted(set(entry) - known - GRADER_DISPLAY_KEYS)
            if unknown:
                self.warnings.append(f"{where}: unknown keys {unknown} dropped")
            try:
                graders.append(
                    GraderEntry(
                        type=str(entry["type"]),
                        short_label=None if entry.get("short_label") is None else str(entry["short_label"]),
                        min_count=int(entry["min_count"]),
                        drop_count=int(entry.get("drop_count") or 0),
                        weight=float(entry.get("weight") or 0.0),
                    )
                )
            except (KeyError, TypeError, ValueError, OverflowError) as error:  # int(1e999) overflows
                self.warnings.append(f"{where}: invalid entry ({_short(error)}); skipped")
        return graders

    def _cutoffs(self, value: Any) -> dict[str, float]:
        if not isinstance(value, dict):
            self.warnings.append("grading policy: GRADE_CUTOFFS is not an object; no cutoffs")
            return {}
        cutoffs: dict[str, float] = {}
        for name, cutoff in value.items():
            try:
                number = float(cutoff)
            except (TypeError, ValueError):
                number = math.nan
            if not 0 <= number <= 1:  # NaN fails too
                self.warnings.append(
                    f"grading policy: cutoff {name!r} = {cutoff!r} is not a number from 0 to 1; skipped"
                )
                continue
            cutoffs[str(name)] = number
        return cutoffs

    # ---- groups ------------------------------------------------------------------------------
    def _user_partitions(self, value: Any) -> dict[int, UserPartition]:
        """The course's group configurations (experiments and content groups)."""
        if isinstance(value, str):
            value = self._json_text(value, "course: user_partitions")
        if value is None:
            return {}
        if not isinstance(value, list):
            self.warnings.append("course: user_partitions is not a list; ignored")
            return {}
        found: dict[int, UserPartition] = {}
        for index, entry in enumerate(value):
            where = f"course: user_partitions[{index}]"
            try:
                scheme = entry.get("scheme") or "random"
                if isinstance(scheme, dict):  # some exports write the scheme as an object
                    scheme = scheme.get("name") or "random"
                partition = UserPartition(
                    id=int(entry["id"]),
                    name=str(entry.get("name") or entry["id"]),
                    scheme=str(scheme),
                    groups=[
                        PartitionGroup(id=int(group["id"]), name=str(group.get("name") or group["id"]))
                        for group in entry.get("groups") or []
                    ],
                )
            except (AttributeError, KeyError, TypeError, ValueError) as error:
                self.warnings.append(f"{where}: invalid ({error!r}); skipped")
                continue
            if entry.get("active") is False:
                self.warnings.append(f"{where} ({partition.name!r}): inactive; ignored")
                continue
            if partition.id in found:
                self.warnings.append(f"{where}: id {partition.id} is used twice; only the first is kept")
                continue
            found[partition.id] = partition
        return found

    def _group_fields(self, fields: dict[str, Any], category: str, where: str, children: list[str]) -> dict:
        """``group_access`` of any block, and a split_test's partition and group -> child map."""
        result: dict[str, Any] = {}
        access = fields.get("group_access")
        if isinstance(access, str):
            access = self._json_text(access, f"{where}: group_access")
        if isinstance(access, dict) and access:
            restrictions: dict[int, list[int]] = {}
            for partition, groups in access.items():
                try:
                    restrictions[int(partition)] = [int(group) for group in groups or []]
                except (TypeError, ValueError):
                    self.warnings.append(
                        f"{where}: group_access {partition!r}: {groups!r} is not valid; ignored"
                    )
                    continue
                if int(partition) not in self.partitions:
                    self.warnings.append(
                        f"{where}: group_access names group configuration {partition}, which the course "
                        "does not define; the restriction is ignored"
                    )
            result["group_access"] = restrictions
        if category == "split_test":
            partition_text = fields.get("user_partition_id")
            try:
                partition_id = int(partition_text) if partition_text not in (None, "", "-1") else None
            except (TypeError, ValueError):
                partition_id = None
            if partition_id is None or partition_id not in self.partitions:
                self.warnings.append(
                    f"{where}: split_test without a known group configuration ({partition_text!r}); "
                    "every learner sees all of its children"
                )
                return result
            mapping = fields.get("group_id_to_child")
            if isinstance(mapping, str):
                mapping = self._json_text(mapping, f"{where}: group_id_to_child")
            split_children: dict[int, str] = {}
            for group, location in (mapping or {}).items() if isinstance(mapping, dict) else []:
                child = block_id_in(str(location)) or str(location)
                if child not in children:
                    self.warnings.append(
                        f"{where}: group {group} shows {child}, which is not one of its children"
                    )
                    continue
                try:
                    split_children[int(group)] = child
                except ValueError:
                    self.warnings.append(f"{where}: group id {group!r} is not a number; ignored")
            result.update(split_partition=partition_id, split_children=split_children)
        return result

    def _json_text(self, text: str, where: str) -> Any:
        try:
            return json.loads(text)
        except ValueError:
            self.warnings.append(f"{where}: not valid JSON; ignored")
            return None

    # ---- values ------------------------------------------------------------------------------
    def _bool(self, value: Any, where: str) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        self.warnings.append(f"{where}: {value!r} is not a boolean; ignored")
        return None

    def _float(self, value: Any, where: str) -> float | None:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "null", "none")):
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.warnings.append(f"{where}: {value!r} is not a number; ignored")
            return None
        if not math.isfinite(number) or not 0 <= number <= MAX_SCORE:
            self.warnings.append(
                f"{where}: {value!r} is not a finite number from 0 to {MAX_SCORE:g}; ignored"
            )
            return None
        return number

    def _datetime(self, value: Any, where: str) -> datetime | None:
        try:
            moment = datetime.fromisoformat(str(value).strip().strip('"'))
        except ValueError:
            self.warnings.append(f"{where}: {value!r} is not a date; ignored")
            return None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _xml_depth(root: ET.Element) -> int:
    """How deep elements nest under ``root`` (root alone: 1), walked without recursion."""
    deepest = 0
    pending = [(root, 1)]
    while pending:
        element, depth = pending.pop()
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in element)
    return deepest


def _text_too_deep(text: str) -> bool:
    """Whether XML text nests deeper than ``MAX_XML_DEPTH`` (unparsable text is left to its parser)."""
    try:
        return _xml_depth(ET.fromstring(text)) > MAX_XML_DEPTH
    except ET.ParseError:
        return False


def _is_pointer(element: ET.Element) -> bool:
    """A pointer names its body's file and nothing else: ``<chapter url_name="x"/>``."""
    return set(element.attrib) == {"url_name"} and not len(element) and not (element.text or "").strip()


def _generated_id(category: str, parent: str, position: int) -> str:
    """A stable id for an inline block written without url_name (re-imports give the same id)."""
    digest = hashlib.sha1(f"{parent}/{position}/{category}".encode(), usedforsecurity=False).hexdigest()
    return f"{category}_{digest[:20]}"


def _short(error: Exception) -> str:
    """An error in one line (pydantic's messages run over several)."""
    return " ".join(str(error).split())[:300]


def _text(value: Any) -> str:
    return "" if value is None else str(value)
