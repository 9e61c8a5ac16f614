"""Small guards at the edges of the Lambda code, each checked with what it must answer."""

from __future__ import annotations

import pytest

from functions.errors import BadRequest
from functions.logic import json_body, loaders
from functions.logic.email import render, unsubscribe
from functions.logic.failures import Failure


def test_a_recorded_failure_missing_a_field_or_not_an_object_reads_as_none():
    assert Failure.from_dict({"exception": "E", "message": "m"}) is None
    assert Failure.from_dict(["E", "m", "id"]) is None
    assert Failure.from_dict({"exception": 1, "message": "m", "error_id": 2}) == Failure("1", "m", "2")


def test_numbers_json_cannot_hold_are_refused_as_a_bad_body():
    with pytest.raises(BadRequest, match=r"^Malformed JSON body: 1e999 is out of range$"):
        json_body.parse('{"weight": 1e999}')
    assert json_body.parse('{"weight": 1.5e2}') == {"weight": 150.0}


def test_keywords_without_a_value_are_left_as_written():
    text = "Hi %%USER_FULLNAME%%, see %%NOT_A_KEYWORD%%"
    values = {"%%USER_FULLNAME%%": "Ann <b>"}
    assert render.fill_keywords(text, values, html=False) == "Hi Ann <b>, see %%NOT_A_KEYWORD%%"
    assert render.fill_keywords(text, values, html=True) == "Hi Ann &lt;b&gt;, see %%NOT_A_KEYWORD%%"


@pytest.mark.parametrize("payload", ["2|5|course-v1:A+B+C", "1|5|", "1|five|course-v1:A+B+C"])
def test_a_signed_token_of_another_version_or_without_a_course_or_user_is_refused(payload):
    # signed with the right secret, so only the payload's own checks can refuse it
    data = payload.encode()
    token = f"{unsubscribe._b64(data)}.{unsubscribe._b64(unsubscribe._mac('secret', data))}"
    with pytest.raises(BadRequest, match=unsubscribe.INVALID_LINK):
        unsubscribe.read_token("secret", token)
    good = unsubscribe.make_token("secret", 5, "course-v1:A+B+C")
    assert unsubscribe.read_token("secret", good) == unsubscribe.Unsubscribe(5, "course-v1:A+B+C")


def test_a_data_kind_cannot_be_registered_twice():
    known = loaders.kinds()
    with pytest.raises(ValueError, match=rf"^loader {known[0]} registered twice$"):
        loaders.loader(known[0])(lambda ctx, course_id, lines: None)  # type: ignore[arg-type,return-value]
    assert loaders.kinds() == known
