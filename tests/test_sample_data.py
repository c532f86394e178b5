"""The real sample used throughout the suite is the published file, quirks included."""

from __future__ import annotations

import hashlib

import pytest

from tests.conftest import SAMPLE_DIR


@pytest.mark.parametrize(
    ("name", "sha256"),
    [
        ("messages.csv", "6ed0cd4d293736cb74d59620402872294b53a8dbebad309f045a4477d4048457"),
        ("users.csv", "c10dca4055e6e2e15462aa78b86e5026ce1c6a31d8ed1fb9ea5379bb93f5f5d4"),
    ],
)
def test_sample_is_the_published_file(name: str, sha256: str) -> None:
    data = (SAMPLE_DIR / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha256
    assert b"\r\n" in data  # CRLF line endings, as published


def test_users_sample_has_no_final_newline() -> None:
    assert not (SAMPLE_DIR / "users.csv").read_bytes().endswith(b"\n")
