"""If-None-Match as RFC 9110 reads it: the weak comparison, lists, `*`, and nothing for a
field that breaks the grammar (routes and the cache are tested through the app)."""

from __future__ import annotations

import pytest

from tempo.core.conditional import content_tag, entity_tag, none_match, read_if_none_match

ETAG = '"lb-7-100-0"'


@pytest.mark.parametrize(
    "field",
    [ETAG, 'W/"lb-7-100-0"', '"a", "lb-7-100-0"', '"a",W/"lb-7-100-0"', ' ,, "lb-7-100-0" ,',
     "*", " * ", '"a,b", "lb-7-100-0"'],
)  # fmt: skip
def test_fields_that_name_the_tag(field: str) -> None:
    assert none_match(field, ETAG)


@pytest.mark.parametrize(
    "field",
    [None, "", '"a"', '"a", W/"b"', "lb-7-100-0", 'w/"lb-7-100-0"', '"lb-7-100-0" x',
     '"lb-7-100-0', '"a" "lb-7-100-0"', '"a", *', '"lb-7-100-0 "', 'W/ "lb-7-100-0"'],
)  # fmt: skip
def test_fields_that_do_not(field: str | None) -> None:
    assert not none_match(field, ETAG)


def test_a_weak_tag_of_ours_matches_its_strong_form_too() -> None:
    assert none_match('"x"', 'W/"x"') and none_match('W/"x"', 'W/"x"')


def test_tags_are_quoted_and_hold_no_quote_or_space() -> None:
    assert entity_tag("lb-1-2-3") == '"lb-1-2-3"'
    for bad in ('a"b', "a b", "a\nb"):
        with pytest.raises(ValueError):
            entity_tag(bad)
    assert content_tag(b"x") == content_tag(b"x") != content_tag(b"y")
    assert none_match(content_tag(b"x"), content_tag(b"x"))


def test_several_header_lines_are_one_list() -> None:
    headers = [(b"if-none-match", b'"a"'), (b"accept", b"*/*"), (b"if-none-match", b'W/"b"')]
    assert read_if_none_match(headers) == '"a", W/"b"'
    assert none_match(read_if_none_match(headers), '"b"')
    assert read_if_none_match([(b"accept", b"*/*")]) is None
