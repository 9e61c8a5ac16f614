"""Settings are read from the environment once per environment, not once per invocation."""

from __future__ import annotations

import pytest

from functions.settings import get_settings


def test_the_same_environment_gives_the_same_settings_and_a_change_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ITASK_CHUNK_SIZE", "123")
    first = get_settings()
    assert first.chunk_size == 123
    assert get_settings() is first  # nothing changed: not read again
    monkeypatch.setenv("ITASK_CHUNK_SIZE", "77")
    assert get_settings().chunk_size == 77
    monkeypatch.setenv("itask_chunk_size", "55")  # pydantic-settings reads names in any case
    monkeypatch.delenv("ITASK_CHUNK_SIZE")
    assert get_settings().chunk_size == 55
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.delenv("ITASK_REGION", raising=False)
    assert get_settings().region == "eu-west-3"
    monkeypatch.setenv("ITASK_CHUNK_SIZE", "123")
    monkeypatch.delenv("itask_chunk_size")
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert get_settings().chunk_size == 123
