"""The leaderboard's pages (/board, /datamart, /upload) through the ASGI transport: the HTML
a browser gets, and uploads sent the way a browser sends the form."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tempo.app import create_app
from tempo.core.settings import Settings
from tempo.pipeline.pages.raw import MAX_CELL
from tests.fixtures.app import SAMPLE_RANKING, TOKEN, files_of, make_settings, running
from tests.fixtures.files import Ranking, csv_rows, many_users, reference_ranking, write
from tests.fixtures.html import Node, parse
from tests.fixtures.s3 import S3Server

PAGES = ("/", "/board", "/datamart", "/upload", "/analytics", "/classify")


async def upload(
    client: httpx.AsyncClient, folder: Path, *names: str, token: str = TOKEN
) -> httpx.Response:
    """POST /upload as the form sends it: the token first, then the chosen files."""
    response = await client.post("/upload", data={"token": token}, files=files_of(folder, *names))
    assert response.headers["content-type"] == "text/html; charset=utf-8", response.text
    return response


def board_rows(doc: Node) -> Ranking:
    rows = []
    for tr in doc.one("table", class_="ranking").one("tbody").all("tr"):
        cells = [cell.text() for cell in tr.all() if cell.tag in ("th", "td")]
        rank, name, user_id, messages = cells
        rows.append((int(rank), int(user_id), "" if name == "not in users.csv" else name,
                     int(messages)))  # fmt: skip
    return rows


def raw_table(doc: Node) -> tuple[list[str], list[list[str]]]:
    """The datamart table: its column headers, and each row's cells (the row number first)."""
    table = doc.one("table", class_="raw")
    columns = [th.text() for th in table.one("thead").all("th")]
    rows = [
        [cell.text() for cell in tr.all() if cell.tag in ("th", "td")]
        for tr in table.one("tbody").all("tr")
    ]
    return columns, rows


def links(doc: Node) -> dict[str, str]:
    """The pager's links by their first word: First, Previous, Next, Last."""
    pager = doc.one("nav", class_="pager")
    return {[w for w in a.text().split() if w.isalpha()][0]: a.attrs["href"]
            for a in pager.all("a")}  # fmt: skip


def text(node: Node) -> str:
    """The text as read: Node.text() puts a space between an element and the stop after it."""
    return re.sub(r" ([.,:;])", r"\1", node.text())


def shown(value: str) -> str:
    """A value as the datamart shows it: long ones cut."""
    return value if len(value) <= MAX_CELL else value[:MAX_CELL] + "…"


# --- every page --------------------------------------------------------------------------


async def test_every_page_links_to_the_others(client: httpx.AsyncClient) -> None:
    for path in PAGES:
        response = await client.get(path)
        assert response.status_code == 200, (path, response.text)
        # No page runs a script but the planner's one (its time zone field's default),
        # allowed by its hash alone.
        _, _, scripts = response.headers["content-security-policy"].partition("script-src")
        assert not scripts or (path == "/" and re.fullmatch(r" 'sha256-[A-Za-z0-9+/=]+'", scripts))
        nav = parse(response.text).one("nav", class_="site-nav")
        assert [a.attrs["href"] for a in nav.all("a")] == list(PAGES)
        current = [a.attrs["href"] for a in nav.all("a") if "aria-current" in a.attrs]
        assert current == [path]
    spec = (await client.get("/openapi.json")).json()
    assert not {"/board", "/datamart", "/upload", "/classify"} & set(spec["paths"])


# --- the leaderboard page ------------------------------------------------------------------


async def test_the_board_before_anything_was_fed(client: httpx.AsyncClient) -> None:
    response = await client.get("/board")
    assert response.status_code == 200
    doc = parse(response.text)
    empty = doc.one(class_="empty")
    assert "Nothing has been fed yet" in empty.text()
    assert empty.one("a").attrs["href"] == "/upload"
    assert doc.all("table") == [] and doc.all("nav", class_="pager") == []


async def test_the_board_pages_through_the_ranking(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    expected = many_users(tmp_path, 60)
    assert len(expected) == 61 and [r for r in expected if r[2] == ""] == [(50, 999, "", 1)]
    assert (await upload(client, tmp_path, "messages", "users")).status_code == 200
    served = (await client.get("/leaderboard")).json()

    first = parse((await client.get("/board")).text)
    assert board_rows(first) == expected[:25]
    assert first.one("caption").text() == "Users 1 to 25 of 61"
    fed = first.one("p", class_="fed")
    assert "61 ranked users" in fed.text()
    assert fed.one("time").attrs["datetime"] == served["updated_at"].replace("Z", "+00:00")
    assert links(first) == {"Next": "/board?page=2", "Last": "/board?page=3"}
    assert "Page 1 of 3" in first.one("nav", class_="pager").text()

    second = parse((await client.get(links(first)["Next"])).text)
    assert board_rows(second) == expected[25:50]
    assert links(second) == {
        "First": "/board", "Previous": "/board", "Next": "/board?page=3", "Last": "/board?page=3",
    }  # fmt: skip

    last = parse((await client.get("/board?page=3")).text)
    assert board_rows(last) == expected[50:]
    assert last.one("caption").text() == "Users 51 to 61 of 61"
    assert links(last) == {"First": "/board", "Previous": "/board?page=2"}
    # The unknown author is ranked under its id, without a name.
    unknown = last.one("span", class_="unknown")
    assert unknown.text() == "not in users.csv"


def missing_page(response: httpx.Response) -> tuple[str, dict[str, str]]:
    """A page number the table does not have: a 404 in the site's layout, never a pager that
    reads "Page 99 of 3"; what it says, and its links by their text."""
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    doc = parse(response.text)
    assert doc.one("nav", class_="site-nav") and doc.one("footer", class_="site")
    assert doc.one("title").text().startswith("No such page: ")
    assert doc.all("table") == [] and doc.all("nav", class_="pager") == []
    assert not re.search(r"Page \S+ of", doc.text())
    notice = doc.one(class_="missing-page")
    return text(notice.one("p")), {a.text(): a.attrs["href"] for a in notice.all("a")}


async def test_pages_that_are_not_there(client: httpx.AsyncClient, tmp_path: Path) -> None:
    expected = many_users(tmp_path, 60)
    await upload(client, tmp_path, "messages", "users")
    said, hrefs = missing_page(await client.get("/board?page=4"))
    assert said == "There is no page 4. The ranking has 61 rows on 3 pages."
    assert hrefs == {"Go to the first page": "/board",
                     "Go to the last page, page 3": "/board?page=3"}  # fmt: skip
    last = await client.get(hrefs["Go to the last page, page 3"])
    assert last.status_code == 200 and board_rows(parse(last.text)) == expected[50:]

    # Not a page number at all is no page either; the value is quoted back as typed.
    for odd in ("0", "-1", "2.5", "abc", "²", " 7x ", "9" * 30):
        said, hrefs = missing_page(await client.get("/board", params={"page": odd}))
        assert said == f"There is no page {odd.strip()}. The ranking has 61 rows on 3 pages.", odd
        assert hrefs["Go to the last page, page 3"] == "/board?page=3"
    long = "x" * 100
    said, _ = missing_page(await client.get("/board", params={"page": long}))
    assert said.startswith(f"There is no page {'x' * 40}…. ")
    # The "Go to page" box left empty asks for no page in particular: the first.
    blank = await client.get("/board", params={"page": ""})
    assert blank.status_code == 200
    assert parse(blank.text).one("caption").text() == "Users 1 to 25 of 61"


async def test_a_nul_byte_in_a_pages_address_is_said_in_a_page(
    client: httpx.AsyncClient,
) -> None:
    """Refused before routing on every path; a browser (Accept: text/html) gets a page in
    words, an API client the JSON error."""
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    for path in ("/board?page=%00", "/?q=a%00b", "/classify?top_k=%00", "/datamart?table=%00"):
        page = await client.get(path, headers=browser)
        assert page.status_code == 422, path
        assert page.headers["content-type"].startswith("text/html"), path
        assert "contains a NUL byte (%00)" in page.text and 'href="/"' in page.text
        assert "<title>Invalid address · Tempo</title>" in page.text
        api = await client.get(path)
        assert api.status_code == 422 and api.json()["error"]["code"] == "invalid_request"
    sneaky = await client.get("/board?%3Cscript%3E=%00", headers=browser)  # a name is said
    assert "<script>" not in sneaky.text and "&lt;script&gt;" in sneaky.text


async def test_an_empty_ranking_has_its_first_page_only(
    client: httpx.AsyncClient, data_dir: Path, auth: dict[str, str]
) -> None:
    # Before any feed, page 1 says how to get one; there is no page 2.
    assert (await client.get("/board")).status_code == 200
    said, hrefs = missing_page(await client.get("/board?page=2"))
    assert said == "There is no page 2. The ranking has 1 page."
    assert hrefs == {"Go to the first page": "/board"}

    write(data_dir / "pipeline_result.csv", "rank,user_id,name,messages\n")
    body = {"data_path": "pipeline_result.csv", "allow_empty": True}
    fed = await client.post("/feed", json=body, headers=auth)
    assert fed.status_code == 200, fed.text
    empty = await client.get("/board")
    assert empty.status_code == 200
    doc = parse(empty.text)
    assert "0 ranked users" in doc.one("p", class_="fed").text()
    assert doc.one(role="status").text() == "The latest feed ranked no users."
    assert doc.all("nav", class_="pager") == []
    said, _ = missing_page(await client.get("/board?page=2"))
    assert said == "There is no page 2. The ranking has 1 page."

    # A short ranking: its one page is not "of 25 rows", which read as the ranking's size.
    write(data_dir / "pipeline_result.csv", "rank,user_id,name,messages\n1,7,Ada,3\n")
    fed = await client.post("/feed", json={"data_path": "pipeline_result.csv"}, headers=auth)
    assert fed.status_code == 200, fed.text
    said, _ = missing_page(await client.get("/board?page=9"))
    assert said == "There is no page 9. The ranking has 1 row on 1 page."


async def test_the_board_without_a_database(data_dir: Path, empty_database_url: str) -> None:
    settings = make_settings("postgresql://postgres@127.0.0.1:9/nowhere", data_dir)
    async for client in running(create_app(settings)):
        response = await client.get("/board")
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        assert response.headers["content-type"].startswith("text/html")
        doc = parse(response.text)
        assert doc.one(class_="notice").text() == (
            "The database cannot be reached right now; try again shortly."
        )
        assert doc.one("title").text() == "Unavailable: Leaderboard · Tempo"

    async for client in running(create_app(make_settings(empty_database_url, data_dir))):
        response = await client.get("/board")
        assert response.status_code == 503 and "retry-after" not in response.headers
        notice = parse(response.text).one(class_="notice").text()
        assert notice == "The database is not set up yet: run `tempo migrate`."


# --- the upload page -------------------------------------------------------------------


async def test_the_upload_form(client: httpx.AsyncClient) -> None:
    response = await client.get("/upload")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    form = parse(response.text).one("form", class_="upload")
    assert form.attrs["method"] == "post" and form.attrs["action"] == "/upload"
    assert form.attrs["enctype"] == "multipart/form-data"
    inputs = form.all("input")
    # The token comes first, so the server has it before any file arrives.
    assert [(i.attrs["name"], i.attrs["type"]) for i in inputs] == [
        ("token", "password"), ("messages", "file"), ("users", "file"),
    ]  # fmt: skip
    assert "value" not in inputs[0].attrs
    hints = [form.one(id=f"{name}-hint").text() for name in ("messages", "users")]
    assert hints == [
        "Replaces messages.csv. Up to 100 MiB.", "Replaces users.csv. Up to 100 MiB.",
    ]  # fmt: skip


async def test_an_upload_through_the_page_changes_the_leaderboard(
    client: httpx.AsyncClient, data_dir: Path, sample_dir: Path, tmp_path: Path
) -> None:
    response = await upload(client, sample_dir, "messages", "users")
    assert response.status_code == 200
    doc = parse(response.text)
    assert doc.one("title").text() == "Uploaded: Upload · Tempo"
    stored = [[c.text() for c in tr.all() if c.tag in ("th", "td")]
              for tr in doc.one("section", class_="outcome").one("tbody").all("tr")]  # fmt: skip
    assert stored == [
        ["messages.csv", "messages.csv", "1.1 KiB", "10"],
        ["users.csv", "users.csv", "192 bytes", "10"],
    ]
    ran = doc.one("p", class_="ran").text()
    assert "10 messages and 10 users gave 10 ranked users." in ran
    assert (data_dir / "users.csv").read_bytes() == (sample_dir / "users.csv").read_bytes()
    board = parse((await client.get("/board")).text)
    expected = [(rank, uid, name, n) for rank, uid, name, n in reference_ranking(
        sample_dir / "messages.csv", sample_dir / "users.csv")]  # fmt: skip
    assert [(r, u, m) for r, u, _, m in board_rows(board)] == SAMPLE_RANKING
    assert board_rows(board) == expected

    # The JSON ranking is cached; the page's upload drops it at once, like POST /uploads.
    assert len((await client.get("/leaderboard")).json()["leaderboard"]) == 10
    bigger = many_users(tmp_path / "bigger", 30)
    assert (await upload(client, tmp_path / "bigger", "messages", "users")).status_code == 200
    assert (await client.get("/leaderboard")).json()["total"] == len(bigger) == 31
    assert board_rows(parse((await client.get("/board")).text)) == bigger[:25]


async def test_the_token_is_checked_before_anything_is_stored(
    client: httpx.AsyncClient, data_dir: Path, sample_dir: Path
) -> None:
    for token, message in (("", "Enter the API token to upload files."),
                           ("not-the-token", "That API token is not valid.")):  # fmt: skip
        response = await upload(client, sample_dir, "messages", "users", token=token)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        summary = parse(response.text).one(class_="error-summary")
        assert message in summary.text()
        assert "Nothing was replaced" in summary.text()
    # Files sent before the token (no browser does) are refused unread, like no token.
    body = (b'--b\r\nContent-Disposition: form-data; name="users"; filename="u.csv"\r\n\r\n'
            b"user_id,name\n1,A\n\r\n"
            b'--b\r\nContent-Disposition: form-data; name="token"\r\n\r\n'
            + TOKEN.encode() + b"\r\n--b--\r\n")  # fmt: skip
    late = await client.post(
        "/upload", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert late.status_code == 401
    assert list(data_dir.iterdir()) == []
    assert (await client.get("/leaderboard")).json()["total"] == 0


async def test_a_refused_file_shows_where_and_replaces_nothing(
    client: httpx.AsyncClient, data_dir: Path, sample_dir: Path, tmp_path: Path
) -> None:
    await upload(client, sample_dir, "messages", "users")
    write(tmp_path / "bad" / "messages.csv", "message_id,author_id\n1,5\n")
    write(tmp_path / "bad" / "users.csv", "user_id,name\n1,A\nx,B\n")
    response = await upload(client, tmp_path / "bad", "messages", "users")
    assert response.status_code == 422
    doc = parse(response.text)
    summary = doc.one(class_="error-summary")
    assert text(summary.all("p")[0]) == "users.csv: not an integer"
    assert summary.one("a").attrs["href"] == "#users"
    where = {div.one("dt").text(): div.one("dd").text() for div in summary.one("dl").all("div")}
    assert where == {"File": "users.csv", "Row": "2", "Column": "user_id", "Value": "“x”"}
    assert "Nothing was replaced" in summary.text()
    assert doc.one("input", id="users").attrs["aria-invalid"] == "true"
    # The good messages.csv of the same form did not replace the stored one either.
    for name in ("messages.csv", "users.csv"):
        assert (data_dir / name).read_bytes() == (sample_dir / name).read_bytes()
    board = parse((await client.get("/board")).text)
    assert [(r, u, m) for r, u, _, m in board_rows(board)] == SAMPLE_RANKING

    write(tmp_path / "torn" / "messages.csv", "message_id,author_id\n1,5\n2,6,7\n3,8\n")
    torn = await upload(client, tmp_path / "torn", "messages")
    assert torn.status_code == 422
    summary = parse(torn.text).one(class_="error-summary")
    assert text(summary.all("p")[0]) == (
        "messages.csv: malformed CSV: 3 fields where the header has 2 (record ending on line 3)"
    )
    assert {div.one("dt").text(): div.one("dd").text() for div in summary.one("dl").all("div")} == {
        "File": "messages.csv", "Row": "2",
    }  # fmt: skip
    assert (data_dir / "messages.csv").read_bytes() == (sample_dir / "messages.csv").read_bytes()


def browser_form(token: str, **files: tuple[str, bytes]) -> tuple[bytes, dict[str, str]]:
    """The body Chromium sends: a file input left empty is a part with filename=""."""
    parts = [b'--b\r\nContent-Disposition: form-data; name="token"\r\n\r\n' + token.encode()]
    for field, (filename, content) in files.items():
        parts.append(
            f'--b\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode()
            + content
        )
    body = b"\r\n".join(parts) + b"\r\n--b--\r\n"
    return body, {"Content-Type": "multipart/form-data; boundary=b"}


async def test_file_inputs_left_empty(
    client: httpx.AsyncClient, data_dir: Path, sample_dir: Path
) -> None:
    await upload(client, sample_dir, "messages", "users")
    body, headers = browser_form(TOKEN, messages=("", b""), users=("", b""))
    nothing = await client.post("/upload", content=body, headers=headers)
    assert nothing.status_code == 400
    assert "Choose messages.csv, users.csv or both" in nothing.text

    users = b"user_id,name\n1,Ada\n2,Alan\n"
    body, headers = browser_form(TOKEN, messages=("", b""), users=("u.csv", users))
    one = await client.post("/upload", content=body, headers=headers)
    assert one.status_code == 200, one.text
    assert (data_dir / "users.csv").read_bytes() == users
    assert (data_dir / "messages.csv").read_bytes() == (sample_dir / "messages.csv").read_bytes()
    stored = parse(one.text).one("section", class_="outcome").one("tbody").all("tr")
    assert [tr.one("th").text() for tr in stored] == ["users.csv"]


async def test_a_run_that_fails_after_the_upload(
    client: httpx.AsyncClient, data_dir: Path, sample_dir: Path
) -> None:
    response = await upload(client, sample_dir, "users")
    assert response.status_code == 200
    notice = parse(response.text).one("section", class_="outcome").one(class_="notice").text()
    assert notice.startswith("The files are stored, but the pipeline run failed: messages.csv:")
    assert (data_dir / "users.csv").is_file()
    assert "Nothing has been fed yet" in (await client.get("/board")).text


async def test_an_oversized_file_and_no_run_on_upload(
    database_url: str, data_dir: Path, sample_dir: Path
) -> None:
    settings = make_settings(database_url, data_dir, max_upload_bytes=1000, run_on_upload=False)
    app = create_app(settings)
    cache = app.response_cache
    async for client in running(app):
        generation = cache.generation("leaderboard")
        big = await upload(client, sample_dir, "users", "messages")
        assert big.status_code == 413
        assert cache.generation("leaderboard") == generation  # nothing changed
        summary = parse(big.text).one(class_="error-summary").text()
        assert "messages.csv is larger than the upload limit of 1,000 bytes" in summary
        assert "Nothing was replaced" in summary
        assert list(data_dir.iterdir()) == []

        small = await upload(client, sample_dir, "users")
        assert small.status_code == 200
        outcome = parse(small.text).one("section", class_="outcome").text()
        assert "RUN_ON_UPLOAD is off" in outcome
        # A leaderboard write, like POST /uploads: a stored upload drops this worker's
        # cached ranking at once, not only when a feed's NOTIFY arrives.
        assert cache.generation("leaderboard") == generation + 1
        assert (data_dir / "users.csv").is_file()
        assert not (data_dir / "pipeline_result.csv").exists()


async def test_an_upload_while_the_database_is_down(data_dir: Path, sample_dir: Path) -> None:
    settings = make_settings("postgresql://postgres@127.0.0.1:9/nowhere", data_dir)
    async for client in running(create_app(settings)):
        response = await upload(client, sample_dir, "messages", "users")
        assert response.status_code == 503
        outcome = parse(response.text).one("section", class_="outcome")
        assert len(outcome.one("tbody").all("tr")) == 2
        assert outcome.one(class_="notice").text() == (
            "The files are stored, but the pipeline could not run: The database cannot be "
            "reached right now; try again shortly."
        )
    assert (data_dir / "messages.csv").is_file()


# --- the datamart ------------------------------------------------------------------------


@pytest.mark.parametrize(("table", "file"), [("messages", "messages.csv"), ("users", "users.csv")])
async def test_the_datamart_shows_the_real_sample(
    client: httpx.AsyncClient, data_dir: Path, sample_dir: Path, table: str, file: str
) -> None:
    (data_dir / file).write_bytes((sample_dir / file).read_bytes())
    response = await client.get("/datamart", params={"table": table})
    assert response.status_code == 200
    doc = parse(response.text)
    expected = csv_rows(sample_dir / file)
    columns, rows = raw_table(doc)
    assert columns == ["Row", *expected[0].keys()]
    # Every value as in the file, quoted commas and line breaks included; the page's
    # whitespace is collapsed by the parser, so compare the words.
    assert rows == [
        [str(n), *(" ".join(shown(v).split()) for v in row.values())]
        for n, row in enumerate(expected, start=1)
    ]
    assert doc.one("caption").text().startswith(f"{table.title()}: rows 1 to 10 of 10.")
    assert text(doc.one("p", class_="source")) == f"{table.title()} are read from {file}."
    tabs = doc.one("nav", class_="tabs").all("a")
    assert [(a.text(), "aria-current" in a.attrs) for a in tabs] == [
        ("Messages", table == "messages"), ("Users", table == "users"),
    ]  # fmt: skip
    assert doc.all("nav", class_="pager") == []  # one page only


async def test_the_datamart_pages_a_larger_table(client: httpx.AsyncClient, data_dir: Path) -> None:
    many_users(data_dir, 60)
    users = csv_rows(data_dir / "users.csv")
    first = parse((await client.get("/datamart?table=users")).text)
    assert raw_table(first)[1][0] == ["1", "0", "Person", "No 000"]
    assert links(first) == {"Next": "/datamart?table=users&page=2",
                            "Last": "/datamart?table=users&page=3"}  # fmt: skip
    last = parse((await client.get(links(first)["Last"])).text)
    assert [row[0] for row in raw_table(last)[1]] == [str(n) for n in range(51, 61)]
    assert [row[3] for row in raw_table(last)[1]] == [u["last_name"] for u in users[50:]]
    assert last.one("caption").text().startswith("Users: rows 51 to 60 of 60.")
    jump = last.one("form", class_="jump")
    hidden = jump.one("input", type="hidden")
    assert (hidden.attrs["name"], hidden.attrs["value"]) == ("table", "users")
    assert jump.one("input", type="number").attrs["max"] == "3"

    for asked in ("9", "4", "0", "-2", "two"):
        beyond = await client.get("/datamart", params={"table": "users", "page": asked})
        said, hrefs = missing_page(beyond)
        assert said == f"There is no page {asked}. users.csv has 60 rows on 3 pages.", asked
        assert hrefs == {"Go to the first page": "/datamart?table=users",
                         "Go to the last page, page 3": "/datamart?table=users&page=3"}  # fmt: skip
        # The "Go to page" box stays, for the table shown.
        jump = parse(beyond.text).one("form", class_="jump")
        assert jump.one("input", type="hidden").attrs["value"] == "users"
        assert "value" not in jump.one("input", type="number").attrs
    orders = await client.get("/datamart?table=orders")
    assert orders.status_code == 404
    other = parse(orders.text)
    assert other.one(class_="notice").text() == "There is no table “orders”; showing Messages."
    assert raw_table(other)[0] == ["Row", "message_id", "author_id", "content"]


async def test_the_datamart_without_files_and_with_broken_ones(
    client: httpx.AsyncClient, data_dir: Path
) -> None:
    for table, file in (("messages", "messages.csv"), ("users", "users.csv")):
        response = await client.get("/datamart", params={"table": table})
        assert response.status_code == 200
        empty = parse(response.text).one(class_="empty")
        assert text(empty) == f"There is no {file} yet. Upload one on the Upload page."
        assert empty.one("a").attrs["href"] == "/upload"

    # No file yet: page 1 says so; any other page is not there.
    nowhere = await client.get("/datamart", params={"table": "users", "page": "2"})
    assert nowhere.status_code == 404
    doc = parse(nowhere.text)
    assert doc.one(class_="notice").text() == "There is no page 2."
    assert text(doc.one(class_="empty")).startswith("There is no users.csv yet.")

    write(data_dir / "users.csv", "user_id,name\n")
    response = await client.get("/datamart?table=users")
    assert response.status_code == 200
    header_only = parse(response.text)
    assert "users.csv has a header (user_id, name) and no rows." in header_only.text()
    assert header_only.all("nav", class_="pager") == []
    said, hrefs = missing_page(await client.get("/datamart?table=users&page=2"))
    assert said == "There is no page 2. users.csv has 1 page."
    assert hrefs == {"Go to the first page": "/datamart?table=users"}

    write(data_dir / "messages.csv", 'message_id,author_id\n1,2\n2,3,4\n3,"5\n')
    broken = await client.get("/datamart")
    assert broken.status_code == 200
    notice = parse(broken.text).one(class_="notice").text()
    assert notice == (
        "messages.csv cannot be shown. messages.csv, row 2: malformed CSV: 3 fields where the "
        "header has 2 (record ending on line 3)"
    )
    assert str(data_dir) not in broken.text

    write(data_dir / "messages.csv", b"message_id,author_id\n1,\xff\n")
    assert "not valid UTF-8 text (byte 23, line 2)" in (await client.get("/datamart")).text


async def test_the_datamart_and_the_upload_page_on_object_storage(
    s3_client: httpx.AsyncClient, s3_server: S3Server, s3_settings: Settings, sample_dir: Path
) -> None:
    raw = s3_settings.raw_bucket
    missing = parse((await s3_client.get("/datamart?table=users")).text)
    assert missing.one(class_="empty").text().startswith("There is no users.csv yet.")
    assert text(missing.one("p", class_="source")) == f"Users are read from s3://{raw}/users.csv."

    response = await upload(s3_client, sample_dir, "messages", "users")
    assert response.status_code == 200, response.text
    doc = parse(response.text)
    stored = [tr.all("td")[0].text() for tr in doc.one("section", class_="outcome").all("tr")[1:]]
    assert stored == [f"s3://{raw}/messages.csv", f"s3://{raw}/users.csv"]
    assert "gave 10 ranked users" in doc.one("p", class_="ran").text()

    page = parse((await s3_client.get("/datamart")).text)
    columns, rows = raw_table(page)
    assert columns == ["Row", "message_id", "author_id", "received_at", "content"]
    expected = csv_rows(sample_dir / "messages.csv")
    assert [row[1:3] for row in rows] == [[r["message_id"], r["author_id"]] for r in expected]
    board = parse((await s3_client.get("/board")).text)
    assert [(r, u, m) for r, u, _, m in board_rows(board)] == SAMPLE_RANKING
