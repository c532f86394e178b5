"""`aggregate`: raw messages + users → pipeline_result.csv, on real and hand-made files."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tempo.core.csv_input import CsvError
from tempo.pipeline.aggregate import _count_checked, _count_typed, aggregate
from tests.fixtures.files import read_result, reference_ranking, write

USERS = "user_id,first_name,last_name\n1,Ada,Lovelace\n2,Alan,Turing\n3,Grace,Hopper\n"


def run(tmp_path: Path, messages: str | bytes, users: str | bytes = USERS) -> list[tuple]:
    m = write(tmp_path / "messages.csv", messages)
    u = write(tmp_path / "users.csv", users)
    aggregate(m, u, tmp_path / "out")
    return read_result(tmp_path / "out" / "pipeline_result.csv")


def test_real_sample_matches_the_expected_counts(sample_dir: Path, tmp_path: Path) -> None:
    summary = aggregate(sample_dir / "messages.csv", sample_dir / "users.csv", tmp_path)
    rows = read_result(tmp_path / "pipeline_result.csv")
    counts = {user_id: messages for _, user_id, _, messages in rows}
    assert counts == {1: 2, 2: 2, 8: 2, 3: 1, 4: 1, 7: 1, 9: 1, 0: 0, 5: 0, 6: 0}
    assert [(rank, user_id) for rank, user_id, _, _ in rows] == [
        (1, 1), (1, 2), (1, 8), (4, 3), (4, 4), (4, 7), (4, 9), (8, 0), (8, 5), (8, 6),
    ]  # fmt: skip
    assert rows == reference_ranking(sample_dir / "messages.csv", sample_dir / "users.csv")
    assert (summary.messages, summary.users, summary.orphan_messages) == (10, 10, 0)
    assert "10 messages" in summary.line() and "0 orphan messages" in summary.line()


def test_names_join_first_and_last(sample_dir: Path, tmp_path: Path) -> None:
    aggregate(sample_dir / "messages.csv", sample_dir / "users.csv", tmp_path)
    names = {uid: name for _, uid, name, _ in read_result(tmp_path / "pipeline_result.csv")}
    users = (sample_dir / "users.csv").read_text().splitlines()[1:]
    first, last = users[0].split(",")[1:]
    assert names[int(users[0].split(",")[0])] == f"{first.strip()} {last.strip()}"


def test_competition_ranking_orders_ties_by_user_id(tmp_path: Path) -> None:
    users = "user_id,name\n10,J\n4,D\n7,G\n2,B\n"
    messages = "message_id,author_id\n1,7\n2,7\n3,7\n4,10\n5,10\n6,2\n7,2\n8,4\n"
    assert run(tmp_path, messages, users) == [
        (1, 7, "G", 3),
        (2, 2, "B", 2),
        (2, 10, "J", 2),
        (4, 4, "D", 1),
    ]


def test_orphan_messages_are_counted_under_their_id_with_an_empty_name(tmp_path: Path) -> None:
    messages = "message_id,author_id\n1,1\n2,99\n3,99\n4,42\n"
    rows = run(tmp_path, messages)
    assert rows == [
        (1, 99, "", 2),
        (2, 1, "Ada Lovelace", 1),
        (2, 42, "", 1),
        (4, 2, "Alan Turing", 0),
        (4, 3, "Grace Hopper", 0),
    ]
    summary = aggregate(tmp_path / "messages.csv", tmp_path / "users.csv", tmp_path / "out")
    assert (summary.orphan_messages, summary.orphan_users) == (3, 2)


def test_user_id_column_and_single_name_column_are_accepted(tmp_path: Path) -> None:
    messages = "message_id,user_id,content\n1,5,hi\n2,5,again\n"
    rows = run(tmp_path, messages, "id,name\n5, Eve \n6,Mallory\n")
    assert rows == [(1, 5, "Eve", 2), (2, 6, "Mallory", 0)]


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param(b"message_id,author_id\r\n1,1\r\n2,2\r\n3,1\r\n", id="crlf"),
        pytest.param(b"message_id,author_id\n1,1\n2,2\n3,1", id="no-final-newline"),
        pytest.param(b"\xef\xbb\xbfmessage_id,author_id\n1,1\n2,2\n3,1\n", id="utf8-bom"),
        pytest.param(
            b"message_id,author_id,received_at,content\r\n"
            b'1,1,2023-01-01 10:00:00,"multi\r\nline, with ""quotes"""\r\n'
            b'2,2,2023-01-01T10:00:00+02:00,"a\nb"\r\n'
            b"3,1,2023-01-02 10:00:00.123456,plain",
            id="quoted-multiline-crlf",
        ),
        pytest.param(b"message_id,author_id\n1, 1\n2,2 \n3,01\n", id="padded-ids"),
    ],
)
def test_file_format_variants_give_the_same_ranking(tmp_path: Path, messages: bytes) -> None:
    users = b"\xef\xbb\xbfuser_id,first_name,last_name\r\n1,Ada,Lovelace\r\n2,Alan,Turing"
    assert run(tmp_path, messages, users) == [(1, 1, "Ada Lovelace", 2), (2, 2, "Alan Turing", 1)]


def test_ids_the_csv_reader_parses_count_as_the_checked_reading_does(tmp_path: Path) -> None:
    """The one pass that lets the CSV reader parse author ids must give every id it accepts
    the value `as_int` gives it, and leave to the checked reading every id it refuses."""
    accepted = 'message_id,author_id\n1,+1\n2,01\n3, 1\n4,"2"\n5,-0\n6,-5\n7,9223372036854775807\n'
    m = write(tmp_path / "m.csv", accepted)
    names = ["message_id", "author_id"]
    typed = _count_typed(m, names, "author_id")
    assert typed is not None
    checked = _count_checked(m, names, "author_id", allow_empty=False)
    assert typed.select("user_id", "messages").sort("user_id").equals(checked)
    assert checked.rows() == [(-5, 1), (0, 1), (1, 3), (2, 1), (9223372036854775807, 1)]
    for refused in ("1 ", "1.0", "9223372036854775808", ""):
        other = write(tmp_path / "o.csv", f"message_id,author_id\n1,1\n2,{refused}\n")
        assert _count_typed(other, names, "author_id") is None, refused


def test_header_only_files_give_an_empty_ranking_only_when_asked(tmp_path: Path) -> None:
    m = write(tmp_path / "messages.csv", "message_id,author_id\n")
    u = write(tmp_path / "users.csv", "user_id,name\n")
    with pytest.raises(CsvError, match="no data rows after the header"):
        aggregate(m, u, tmp_path / "out")
    assert not (tmp_path / "out" / "pipeline_result.csv").exists()
    aggregate(m, u, tmp_path / "out", allow_empty=True)
    assert read_result(tmp_path / "out" / "pipeline_result.csv") == []


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    authors=st.lists(st.integers(min_value=-3, max_value=30), max_size=80),
    user_ids=st.sets(st.integers(min_value=0, max_value=25), max_size=20),
)
def test_ranking_matches_an_independent_reference(
    tmp_path: Path, authors: list[int], user_ids: set[int]
) -> None:
    messages = "message_id,author_id\n" + "".join(f"{i},{a}\n" for i, a in enumerate(authors))
    users = "user_id,name\n" + "".join(f"{u},User {u}\n" for u in sorted(user_ids, reverse=True))
    m = write(tmp_path / "m.csv", messages)
    u = write(tmp_path / "u.csv", users)
    aggregate(m, u, tmp_path / "prop", allow_empty=True)
    assert read_result(tmp_path / "prop" / "pipeline_result.csv") == reference_ranking(m, u)


# --- failures: each names the file, the column and, where there is one, the row ---------


def fails(tmp_path: Path, messages: str | bytes, users: str | bytes = USERS) -> CsvError:
    with pytest.raises(CsvError) as caught:
        run(tmp_path, messages, users)
    return caught.value


def test_missing_file_is_named(tmp_path: Path) -> None:
    write(tmp_path / "users.csv", USERS)
    with pytest.raises(CsvError, match=r"nope\.csv: file not found"):
        aggregate(tmp_path / "nope.csv", tmp_path / "users.csv", tmp_path / "out")


def test_a_directory_is_not_a_csv(tmp_path: Path) -> None:
    write(tmp_path / "users.csv", USERS)
    with pytest.raises(CsvError, match="is a directory"):
        aggregate(tmp_path, tmp_path / "users.csv", tmp_path / "out")


def test_missing_author_column(tmp_path: Path) -> None:
    error = fails(tmp_path, "message_id,writer\n1,1\n")
    assert error.problem.file.endswith("messages.csv")
    assert error.problem.column == "author_id"
    assert "'author_id' or 'user_id'" in str(error) and "'writer'" in str(error)


def test_missing_name_columns(tmp_path: Path) -> None:
    error = fails(tmp_path, "message_id,author_id\n1,1\n", "user_id,email\n1,a@b.c\n")
    assert error.problem.file.endswith("users.csv")
    assert "'first_name' and 'last_name', or 'name'" in str(error)


def test_non_integer_author_names_row_column_and_value(tmp_path: Path) -> None:
    error = fails(tmp_path, "message_id,author_id\n1,1\n2,2\n3,x7\n4,1\n")
    assert (error.problem.row, error.problem.column, error.problem.value) == (3, "author_id", "x7")
    assert str(error).endswith(
        "messages.csv, row 3, column 'author_id': not an integer (value 'x7')"
    )


def test_empty_author_is_an_error(tmp_path: Path) -> None:
    error = fails(tmp_path, "message_id,author_id,content\n1,1,a\n2,,b\n")
    assert (error.problem.row, error.problem.column) == (2, "author_id")
    assert "empty value" in str(error)


def test_row_numbers_count_records_not_lines(tmp_path: Path) -> None:
    messages = 'message_id,author_id,content\n1,1,"two\nlines"\n2,1,"three\nmore\nlines"\n3,1.5,x\n'
    assert fails(tmp_path, messages).problem.row == 3


def test_non_integer_user_id(tmp_path: Path) -> None:
    error = fails(tmp_path, "message_id,author_id\n1,1\n", "user_id,name\n1,A\n2.5,B\n")
    assert error.problem.file.endswith("users.csv")
    assert (error.problem.row, error.problem.column, error.problem.value) == (2, "user_id", "2.5")


def test_duplicate_user_ids_name_both_rows(tmp_path: Path) -> None:
    error = fails(tmp_path, "message_id,author_id\n1,1\n", "user_id,name\n1,A\n2,B\n1,C\n")
    assert (error.problem.row, error.problem.column) == (3, "user_id")
    assert "duplicate user id 1: rows 1 and 3" in str(error)


@pytest.mark.parametrize("which", ["messages", "users"])
def test_empty_file(tmp_path: Path, which: str) -> None:
    error = fails(tmp_path, "" if which == "messages" else "message_id,author_id\n1,1\n",
                  "" if which == "users" else USERS)  # fmt: skip
    assert error.problem.file.endswith(f"{which}.csv")
    assert "empty" in str(error)


def test_ragged_row_is_located(tmp_path: Path) -> None:
    error = fails(tmp_path, "message_id,author_id\n1,1\n2,2\n3,1,extra\n")
    assert error.problem.row == 3
    assert "3 fields where the header has 2" in str(error)


def test_unclosed_quote_is_reported(tmp_path: Path) -> None:
    error = fails(tmp_path, 'message_id,author_id,content\n1,1,ok\n2,2,"never closed\n3,1,x\n')
    assert error.problem.file.endswith("messages.csv")
    assert "closing quote" in str(error)


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    error = fails(tmp_path, b"message_id,author_id,content\n1,1,ok\n2,2,caf\xe9\n")
    assert "not valid UTF-8" in str(error) and "line 3" in str(error)


def test_failed_run_keeps_the_previous_result(tmp_path: Path) -> None:
    run(tmp_path, "message_id,author_id\n1,1\n")
    before = (tmp_path / "out" / "pipeline_result.csv").read_bytes()
    fails(tmp_path, "message_id,author_id\n1,oops\n")
    assert (tmp_path / "out" / "pipeline_result.csv").read_bytes() == before
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["pipeline_result.csv"]


def test_output_path_must_be_a_directory(tmp_path: Path) -> None:
    m = write(tmp_path / "messages.csv", "message_id,author_id\n1,1\n")
    u = write(tmp_path / "users.csv", USERS)
    with pytest.raises(CsvError, match="must be a directory"):
        aggregate(m, u, m)
