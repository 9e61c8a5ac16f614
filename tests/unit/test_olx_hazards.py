"""OLX imports of hostile or broken archives (issue 8, defect 4): each is refused with ``OlxError`` (a
400 through the API, tested in tests/integration/test_data_atomicity.py) or imported, never another
exception: deep nesting, path tricks in member names, links, huge member counts, decompression bombs,
and damaged bytes anywhere in the archive."""

from __future__ import annotations

import gzip
import io
import random
import re
import tarfile

import pytest

from functions.logic import olx
from functions.logic.olx import OlxError, import_course

COURSE_XML = '<course url_name="run" org="Org" course="Num"/>'
BLOCK_DEPTH_LIMIT = 50  # the README's limit


def tar_gz(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def files(contents: dict[str, str], top: str = "course") -> list[tuple[tarfile.TarInfo, bytes | None]]:
    return [
        (tarfile.TarInfo(f"{top}/{path}" if top else path), text.encode()) for path, text in contents.items()
    ]


def small_course() -> dict[str, str]:
    return {
        "course.xml": COURSE_XML,
        "course/run.xml": '<course display_name="Small"><chapter url_name="ch1"/></course>',
        "chapter/ch1.xml": '<chapter display_name="Ch"><sequential url_name="s1"/></chapter>',
        "sequential/s1.xml": '<sequential display_name="S"><vertical url_name="v1"/></sequential>',
        "vertical/v1.xml": '<vertical display_name="V"><problem url_name="p1"/></vertical>',
        "problem/p1.xml": (
            '<problem display_name="P"><multiplechoiceresponse><choicegroup>'
            '<choice correct="true">a</choice><choice correct="false">b</choice>'
            "</choicegroup></multiplechoiceresponse></problem>"
        ),
    }


def test_the_small_course_imports():
    imported = import_course(tar_gz(files(small_course())))
    assert imported.course.course_id == "course-v1:Org+Num+run"
    assert set(imported.problems) == {"p1"}


# ---------------------------------------------------------------------------------------------
# deep nesting
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [BLOCK_DEPTH_LIMIT + 1, 3000])
def test_blocks_nested_inline_deeper_than_the_limit_are_refused(depth):
    # Given a course body with verticals nested ``depth`` deep, written inline in one file
    body = "<vertical>" * depth + "</vertical>" * depth
    course = small_course() | {
        "course/run.xml": f'<course display_name="Deep"><chapter>{body}</chapter></course>'
    }
    # When it is imported, Then it is refused with a message that says why
    with pytest.raises(OlxError, match="nested"):
        import_course(tar_gz(files(course)))


def test_blocks_nested_through_a_chain_of_pointer_files_are_refused():
    # Given 3,000 vertical files, each pointing to the next (every file shallow, the tree deep)
    course = small_course() | {"vertical/v1.xml": '<vertical><vertical url_name="n0"/></vertical>'}
    for index in range(3000):
        course[f"vertical/n{index}.xml"] = f'<vertical><vertical url_name="n{index + 1}"/></vertical>'
    with pytest.raises(OlxError, match="nested"):
        import_course(tar_gz(files(course)))


def test_a_course_at_the_depth_limit_imports():
    # course, chapter, then verticals down to the limit, a problem at the bottom
    assert olx.MAX_BLOCK_DEPTH == BLOCK_DEPTH_LIMIT
    inner = BLOCK_DEPTH_LIMIT - 3
    body = "<vertical>" * inner + '<problem url_name="p1"/>' + "</vertical>" * inner
    course = small_course() | {"course/run.xml": f"<course><chapter>{body}</chapter></course>"}
    imported = import_course(tar_gz(files(course)))
    assert "p1" in imported.problems


@pytest.mark.parametrize("where", ["course.xml", "course/run.xml", "chapter/ch1.xml", "vertical/v1.xml"])
def test_structure_files_nested_thousands_deep_are_refused(where):
    # Given a file of the course's structure whose elements nest 5,000 deep
    deep = "<div>" * 5000 + "x" + "</div>" * 5000
    tag = {"course.xml": "course", "course/run.xml": "course"}.get(where, where.split("/")[0])
    attributes = ' url_name="run" org="Org" course="Num"' if where == "course.xml" else ""
    course = small_course() | {where: f"<{tag}{attributes}>{deep}</{tag}>"}
    # When it is imported, Then it is refused, naming the file
    with pytest.raises(OlxError, match=re.escape(f"{where}: elements nested more than 128 deep")):
        import_course(tar_gz(files(course)))


def test_a_problem_nested_thousands_deep_is_kept_unreadable_with_a_warning():
    deep = "<div>" * 5000 + "x" + "</div>" * 5000
    course = small_course() | {"problem/p1.xml": f'<problem display_name="P"><p>{deep}</p></problem>'}
    imported = import_course(tar_gz(files(course)))
    assert any(w.startswith("problem/p1.xml: elements nested more than 128 deep") for w in imported.warnings)
    assert imported.problems["p1"].error == "XML nested more than 128 elements deep"
    assert not imported.problems["p1"].rescorable


def test_an_inline_problem_nested_thousands_deep_is_refused_with_its_file():
    deep = "<div>" * 5000 + "x" + "</div>" * 5000
    course = small_course() | {"vertical/v1.xml": f"<vertical><problem><p>{deep}</p></problem></vertical>"}
    with pytest.raises(OlxError, match=r"vertical/v1\.xml: elements nested"):
        import_course(tar_gz(files(course)))


# ---------------------------------------------------------------------------------------------
# member names and types
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    ["/course/course.xml", "../course/course.xml", "course/../../course.xml", "course/static/../../../x.xml"],
)
def test_members_with_absolute_or_climbing_names_are_refused(name):
    members = files(small_course())
    members.append((tarfile.TarInfo(name), b"<x/>"))
    with pytest.raises(OlxError, match="outside"):
        import_course(tar_gz(members))


@pytest.mark.parametrize(
    ("kind", "target"),
    [
        # a symbolic link resolves from its folder (course/problem/)
        (tarfile.SYMTYPE, "/etc/passwd"),
        (tarfile.SYMTYPE, "../../../etc/passwd"),
        (tarfile.SYMTYPE, "../x/../../../y"),
        # a hard link names a member from the archive root
        (tarfile.LNKTYPE, "/etc/passwd"),
        (tarfile.LNKTYPE, "../x"),
        (tarfile.LNKTYPE, "course/../../x"),
    ],
)
def test_links_pointing_outside_the_archive_are_refused(kind, target):
    members = files(small_course())
    link = tarfile.TarInfo("course/problem/p2.xml")
    link.type = kind
    link.linkname = target
    members.append((link, None))
    with pytest.raises(OlxError, match="outside"):
        import_course(tar_gz(members))


def test_links_inside_the_archive_are_never_followed():
    # Given a problem file that is a link to another problem's file
    members = files(
        small_course()
        | {"vertical/v1.xml": '<vertical><problem url_name="p1"/><problem url_name="p2"/></vertical>'}
    )
    link = tarfile.TarInfo("course/problem/p2.xml")
    link.type = tarfile.SYMTYPE
    link.linkname = "p1.xml"
    members.append((link, None))
    # When imported, Then the link is not read: p2's file is reported missing
    imported = import_course(tar_gz(members))
    assert imported.problems["p2"].error
    assert any("problem/p2.xml" in warning and "missing" in warning for warning in imported.warnings)


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_device_and_fifo_members_are_refused(kind):
    members = files(small_course())
    device = tarfile.TarInfo("course/static/dev")
    device.type = kind
    members.append((device, None))
    with pytest.raises(OlxError, match="device"):
        import_course(tar_gz(members))


def test_an_archive_with_too_many_members_is_refused(monkeypatch):
    monkeypatch.setattr(olx, "MAX_MEMBERS", 50)
    members = files(small_course()) + [(tarfile.TarInfo(f"course/static/{i}.txt"), b"") for i in range(50)]
    with pytest.raises(OlxError, match="more than 50"):
        import_course(tar_gz(members))


def test_the_member_limit_is_far_above_real_courses_and_bounds_memory():
    assert 20_000 <= olx.MAX_MEMBERS <= 200_000


# ---------------------------------------------------------------------------------------------
# decompression bombs
# ---------------------------------------------------------------------------------------------
def test_a_member_declaring_more_than_the_archive_limit_is_refused_before_it_is_read():
    # Given an archive whose member header declares 3 TiB (the data itself is not there)
    header = tarfile.TarInfo("course/static/huge.bin")
    header.size = 3 * 1024**4
    raw = b"".join(
        data.tobuf() if isinstance(data, tarfile.TarInfo) else data for data in _raw_members()
    ) + header.tobuf(format=tarfile.PAX_FORMAT)
    archive = gzip.compress(raw)
    # When imported, Then it is refused for its size, not read until it ends
    with pytest.raises(OlxError, match="expands to more than"):
        import_course(archive)


def _raw_members() -> list[bytes]:
    out = []
    for info, data in files(small_course()):
        assert data is not None
        info.size = len(data)
        out.append(info.tobuf(format=tarfile.PAX_FORMAT))
        out.append(data + b"\0" * (-len(data) % tarfile.BLOCKSIZE))
    return out


def test_an_archive_that_expands_past_the_limit_is_refused(monkeypatch):
    # Given a 4 MiB run of zeros (a few KiB compressed) and a limit of 1 MiB for the whole archive
    monkeypatch.setattr(olx, "MAX_EXPANDED_BYTES", 1024 * 1024)
    members = [*files(small_course()), (tarfile.TarInfo("course/static/zeros.bin"), bytes(4 * 1024 * 1024))]
    archive = tar_gz(members)
    assert len(archive) < 64 * 1024
    with pytest.raises(OlxError, match="expands to more than"):
        import_course(archive)


def test_xml_and_json_beyond_their_own_limit_are_refused(monkeypatch):
    monkeypatch.setattr(olx, "MAX_TEXT_BYTES", 2048)
    course = small_course() | {"about/overview.xml": "<x>" + "a" * 4096 + "</x>"}
    with pytest.raises(OlxError, match="XML and JSON"):
        import_course(tar_gz(files(course)))


def test_entity_expansion_is_not_a_bomb():
    # A "billion laughs" DTD in a problem: expat refuses the amplification, the problem is a warning
    laughs = (
        '<!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
        )
        + "]>"
    )
    course = small_course() | {"problem/p1.xml": laughs + "<problem><p>&lol9;</p></problem>"}
    imported = import_course(tar_gz(files(course)))
    assert imported.problems["p1"].error
    assert any("problem/p1.xml" in warning for warning in imported.warnings)


# ---------------------------------------------------------------------------------------------
# damaged bytes anywhere
# ---------------------------------------------------------------------------------------------
def _outcome(archive: bytes) -> str:
    try:
        import_course(archive)
    except OlxError:
        return "refused"
    return "imported"


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz", ""])
def test_damaged_archives_are_refused_or_imported_never_crash(compression):
    # Given the small course packed, then damaged: cut short, or bytes changed, at 300 seeded places
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}" if compression else "w") as tar:
        for info, data in files(small_course()):
            tar.addfile(info, io.BytesIO(data or b""))
    good = buffer.getvalue()
    rng = random.Random(f"olx-{compression}")
    outcomes = {"refused": 0, "imported": 0}
    for _ in range(150):
        outcomes[_outcome(good[: rng.randrange(len(good))])] += 1
    for _ in range(150):
        damaged = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        outcomes[_outcome(bytes(damaged))] += 1
    # Then every case ended one of the two ways (an unexpected exception fails the test above)
    assert sum(outcomes.values()) == 300
    assert outcomes["refused"] > 0


@pytest.mark.parametrize(
    "data", [b"", b"\x1f\x8b", b"not an archive", gzip.compress(b"x" * 1000, mtime=0), bytes(10_000)]
)
def test_things_that_are_not_archives_are_refused(data):
    with pytest.raises(OlxError):
        import_course(data)
