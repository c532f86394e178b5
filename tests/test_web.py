"""The "Plan your day" page through the ASGI transport: the HTML a browser gets, submitted
the way a browser submits it (every field of the form plus the button pressed)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from icalendar import Calendar
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.app import create_app
from tempo.catalog.demo import seed_demo_catalog
from tempo.catalog.load import load_catalog
from tempo.schedule.pages.view import SIDE_LABEL_REM, _stack
from tests.fixtures.app import make_settings, running
from tests.fixtures.catalog import demo_rows, song, songs_csv
from tests.fixtures.html import Node, parse


def form_values(doc: Node) -> dict[str, str]:
    """What the browser would send for the page's form, before any button."""
    form = doc.one("form", id="planner")
    values: dict[str, str] = {}
    for node in form.all("input"):
        kind = node.attrs.get("type", "text")
        if kind == "checkbox":
            if "checked" in node.attrs:
                values[node.attrs["name"]] = node.attrs.get("value", "on")
        else:
            values[node.attrs["name"]] = node.attrs.get("value", "")
    for node in form.all("select"):
        options = node.all("option")
        chosen = [o for o in options if "selected" in o.attrs] or options[:1]
        values[node.attrs["name"]] = chosen[0].attrs["value"]
    return values


@dataclass
class Browser:
    """Keeps the last page, and submits its form with changes, as a person would."""

    client: httpx.AsyncClient
    doc: Node = field(default_factory=lambda: Node("#document", {}))
    response: httpx.Response | None = None

    async def open(self) -> Node:
        self.response = await self.client.get("/")
        assert self.response.status_code == 200, self.response.text
        self.doc = parse(self.response.text)
        return self.doc

    async def submit(
        self, button: dict[str, str], changes: dict[str, str | None] | None = None
    ) -> Node:
        """None in `changes` clears a field: an unticked checkbox is not sent at all."""
        data = form_values(self.doc) | (changes or {})
        sent = {k: v for k, v in data.items() if v is not None} | button
        self.response = await self.client.post("/", data=sent)
        assert self.response.headers["content-type"].startswith("text/html")
        self.doc = parse(self.response.text)
        return self.doc


def fields(**values: str) -> dict[str, str]:
    """appointments_0_title=… → appointments-0-title=…; top-level names keep underscores."""
    top = {"date", "day_start", "day_end", "min_gap", "q"}
    return {k if k in top else k.replace("_", "-"): v for k, v in values.items()}


PLAN = {"action": "plan"}
DAY = fields(
    date="2026-11-23", day_start="08:00", day_end="12:00", min_gap="0",
    appointments_0_title="Stand-up", appointments_0_start="09:00", appointments_0_end="09:30",
    appointments_0_essential="on",
    todos_0_title="Report", todos_0_duration="60", todos_0_priority="1",
    music_0_kind="inline", music_0_what="Intro - Band", music_0_length="3:30",
)  # fmt: skip


def timeline(doc: Node) -> list[tuple[str, ...]]:
    table = doc.one("table", class_="timeline")
    return [tuple(cell.text() for cell in row.all() if cell.tag in ("th", "td"))
            for row in table.one("tbody").all("tr")]  # fmt: skip


def errors(doc: Node) -> dict[str, str]:
    """Input name → its error text, checked to be tied to the input for assistive tech."""
    found = {}
    for node in doc.all(class_="error"):
        name = node.attrs["id"].removesuffix("-error")
        control = doc.one(id=name)
        assert control.attrs.get("aria-invalid") == "true", name
        assert node.attrs["id"] in control.attrs["aria-describedby"].split(), name
        found[name] = node.text().removeprefix("Error: ")
    return found


async def post(client: httpx.AsyncClient, data: dict[str, str], path: str = "/") -> Node:
    response = await client.post(path, data=data)
    assert response.headers["content-type"].startswith("text/html"), response.text
    return parse(response.text)


# --- the page ----------------------------------------------------------------------


async def test_the_page_is_an_accessible_form(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    doc = parse(response.text)
    # One script, the time zone field's default, allowed by its hash: nothing else runs.
    (script,) = doc.all("script")
    digest = base64.b64encode(hashlib.sha256(script.text().encode()).digest()).decode()
    policy = response.headers["content-security-policy"]
    assert policy.endswith(f"; script-src 'sha256-{digest}'")
    assert doc.one("html").attrs["lang"] == "en"
    skip = doc.all("a")[0]
    assert skip.attrs["href"] == "#main" and doc.one(id="main").tag == "main"

    labels = {node.attrs["for"]: node.text() for node in doc.all("label")}
    controls = [n for n in doc.all() if n.tag in ("input", "select")]
    visible = [n for n in controls if n.attrs.get("type") != "hidden"]
    # day, calendar (file, time zone), rows of each section, search
    assert len(visible) == 4 + 2 + 3 * 4 + 3 * 5 + 3 * 3 + 1
    for node in visible:
        assert labels.get(node.attrs["id"]), f"no label for {node.attrs['id']}"
        assert node.attrs["name"] == node.attrs["id"]
    assert labels["appointments-1-end"] == "End of appointment 2"
    # Every fieldset opens with its legend.
    firsts = [next(c for c in f.children if isinstance(c, Node)) for f in doc.all("fieldset")]
    assert all(first.tag == "legend" for first in firsts)
    legends = [first.text() for first in firsts]
    assert legends[:3] == ["Your day", "Your calendar", "Appointments"] and "Songs" in legends
    assert {"Appointment 1", "To-do 3", "Song 2", "Find songs in the catalog"} <= set(legends)

    values = form_values(doc)
    assert values["date"] == dt.date.today().isoformat()
    assert (values["day_start"], values["day_end"], values["min_gap"]) == ("07:00", "23:00", "0")
    assert values["appointments-0-essential"] == "on" and values["todos-2-priority"] == "3"
    # The first button is what Enter presses: it must not be "add a row".
    first = doc.one("form").all("button")[0]
    assert first.attrs["value"] == "default"

    css = await client.get(doc.one("link", rel="stylesheet").attrs["href"])
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert len(response.content) + len(css.content) < 40_000


def readme_rules() -> str:
    """The rules in the README's "Plan your day" section, as one line of text."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("\n## Plan your day\n", 1)[1].split("\n## ", 1)[0]
    return " ".join(section.split("The rules:", 1)[1].split())


async def test_the_intro_says_what_the_readme_s_rules_say(client: httpx.AsyncClient) -> None:
    lead = parse((await client.get("/")).text).one("p", class_="lead").text()
    rules = readme_rules()
    # Only appointments can be essential or optional; to-dos and songs never are.
    for text in (lead, rules):
        assert not re.search(r"\b(essential|optional|non-essential) (to-do|song|music)", text)
    # Each rule the intro states, the README states too.
    fixed = "Appointments stay where they are"
    assert fixed in lead and fixed in rules
    assert "To-dos" in lead and "by priority" in lead and "placed by priority" in rules
    assert "in the order you give them" in lead and "in the order asked" in rules
    assert "never overlap an appointment or a to-do" in lead
    assert "never overlap an appointment or a to-do" in rules


async def test_html_routes_stay_out_of_the_api_docs(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not {"/", "/plan.ics", "/assets/tempo.css"} & set(paths)


async def test_adding_a_row_keeps_every_value(client: httpx.AsyncClient) -> None:
    browser = Browser(client)
    await browser.open()
    typed = DAY | fields(appointments_1_title="Coffee", appointments_1_start="10:00",
                         appointments_1_end="10:15", todos_2_title="Call", todos_2_duration="15",
                         todos_2_latest="11:00", q="dance")  # fmt: skip
    del typed["appointments-0-essential"]  # unticked, and must stay unticked
    doc = await browser.submit({"action": "add-todo"}, typed | {"appointments-0-essential": None})
    assert browser.response is not None and browser.response.status_code == 200
    values = form_values(doc)
    assert {k: values.get(k) for k in typed} == typed
    assert "appointments-0-essential" not in values  # a filled row the person unticked
    assert values["appointments-2-essential"] == "on"  # an untouched row keeps its default
    assert values["todos-rows"] == "4" and values["todos-3-title"] == ""
    assert values["appointments-rows"] == "3" and "appointments-3-title" not in values
    assert doc.one(id="todos-3-title").tag == "input"
    assert not doc.all(id="plan") and not doc.all(class_="error-summary")

    doc = await browser.submit({"action": "add-song"})
    assert form_values(doc)["music-rows"] == "4" and form_values(doc)["todos-rows"] == "4"


# --- planning ------------------------------------------------------------------------


async def test_a_plan_with_inline_songs_shows_the_timeline(client: httpx.AsyncClient) -> None:
    browser = Browser(client)
    await browser.open()
    doc = await browser.submit(PLAN, DAY)
    assert browser.response is not None and browser.response.status_code == 200
    assert timeline(doc) == [
        ("08:00", "09:00", "1 h", "To-do", "Report"),
        ("09:00", "09:30", "30 min", "Appointment", "Stand-up"),
        ("09:30", "09:33:30", "3 min 30 s", "Music", "Intro — Band"),
        ("09:33:30", "12:00", "2 h 26 min 30 s", "Free", ""),
    ]
    table = doc.one("table", class_="timeline")
    assert table.one("caption").text().startswith("Everything in your day, 08:00–12:00")
    assert {th.attrs["scope"] for th in table.all("th")} == {"col", "row"}

    blocks = doc.one("ol", class_="blocks").all("li")
    assert [(b.attrs["class"], b.one(class_="when").text()) for b in blocks] == [
        ("block todo", "08:00–09:00"),
        ("block appointment s", "09:00–09:30"),
        ("block music xs", "09:30–09:33:30"),
        ("block free", "09:33:30–12:00"),
    ]
    # Positioned as a share of the four-hour window; labelled in words, not colour alone.
    assert blocks[1].attrs["style"] == "top: 25.0000%; height: 12.5000%"
    assert [b.one(class_="kind").text() for b in blocks] == ["To-do", "Appointment", "Music",
                                                             "Free"]  # fmt: skip
    totals = {d.one("dt").text(): d.one("dd").text() for d in doc.one("dl").all("div")}
    assert totals == {"Appointments and to-dos": "1 h 30 min", "Music": "3 min 30 s",
                      "Free": "2 h 26 min 30 s"}  # fmt: skip
    assert doc.one(id="plan-title").text() == "Your plan: Monday 23 November 2026, 08:00–12:00"
    assert doc.one(id="plan").text().endswith("Not placed Everything fitted.")
    download = doc.one("button", formaction="/plan.ics")
    assert download.attrs["form"] == "planner" and download.text() == "Download .ics"
    assert form_values(doc) == form_values(parse((await client.post("/", data=DAY)).text))


async def test_what_does_not_fit_is_listed_with_the_form_row(client: httpx.AsyncClient) -> None:
    doc = await post(client, DAY | PLAN | fields(
        appointments_2_title="Coffee", appointments_2_start="09:15", appointments_2_end="09:45",
        todos_1_title="Too big", todos_1_duration="300",
    ))  # fmt: skip
    assert [li.text() for li in doc.one("ul", class_="unplaced").all("li")] == [
        "Appointment 3 (appointment) “Coffee”: overlaps essential appointment 'Stand-up' "
        "(09:00–09:30)",
        "To-do 2 (to-do) “Too big”: no free slot of 300 min between 08:00 and 12:00",
    ]


async def test_inline_songs_need_no_database(data_dir: Path) -> None:
    """A day without catalog music plans even while the database is down; a search says
    the catalog is unreachable, on the page, with the values kept."""
    settings = make_settings("postgresql://postgres@127.0.0.1:9/nowhere", data_dir)
    async for client in running(create_app(settings)):
        doc = await post(client, DAY | PLAN)
        assert timeline(doc)[2][:2] == ("09:30", "09:33:30")
        response = await client.post("/", data=DAY | {"action": "search", "q": "dance"})
        assert response.status_code == 503
        doc = parse(response.text)
        assert "cannot be reached" in doc.one(class_="notice").text()
        assert form_values(doc)["todos-0-title"] == "Report"
        assert form_values(doc)["q"] == "dance"


# --- errors on the page ----------------------------------------------------------------


async def test_invalid_values_are_shown_next_to_their_inputs(client: httpx.AsyncClient) -> None:
    sent = (
        DAY
        | PLAN
        | fields(
            appointments_0_end="08:30",  # before its start
            todos_0_duration="an hour",
            music_0_length="soon",
            appointments_2_title="No times",  # the second row left empty: row numbers still hold
            date="23/11/2026",
        )
    )
    response = await client.post("/", data=sent)
    assert response.status_code == 422
    doc = parse(response.text)
    assert errors(doc) == {
        "date": "Enter a date such as 2026-11-23",
        "appointments-0-end": "End (08:30) must be after start (09:00)",
        "appointments-2-start": "Required",
        "appointments-2-end": "Required",
        "todos-0-duration": "Enter a whole number",
        "music-0-length": "Enter a length such as 3:30 (minutes:seconds) or 4",
    }
    summary = doc.one(class_="error-summary")
    assert summary.attrs["role"] == "alert"
    links = [(a.attrs["href"], a.text()) for a in summary.all("a")]
    assert links[0] == ("#date", "Date: Enter a date such as 2026-11-23")
    assert links[1] == ("#appointments-0-end",
                        "Appointment 1, end: End (08:30) must be after start (09:00)")  # fmt: skip
    assert [href for href, _ in links] == ["#" + name for name in errors(doc)]
    assert doc.one("title").text().startswith("Error: ")
    values = form_values(doc)
    assert {k: values[k] for k in sent if k != "action"} == {
        k: v for k, v in sent.items() if k != "action"
    }
    assert not doc.all(id="plan")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (fields(appointments_0_start="06:00"),
         {"appointments-0-start": "Outside the day window 08:00–12:00"}),
        (fields(day_end="07:00"),
         {"day_end": "The day must end after it starts",
          "appointments-0-start": "Outside the day window 08:00–07:00",
          "appointments-0-end": "Outside the day window 08:00–07:00"}),
        (fields(todos_0_latest="13:00"),
         {"todos-0-latest": "Outside the day window 08:00–12:00"}),
        (fields(appointments_1_title="Call", appointments_1_start="09:15",
                appointments_1_end="10:00", appointments_1_essential="on"),
         {"appointments-0-start": "Essential appointments Appointment 1 'Stand-up' "
                                  "(09:00–09:30) and Appointment 2 'Call' (09:15–10:00) overlap",
          "appointments-1-start": "Essential appointments Appointment 1 'Stand-up' "
                                  "(09:00–09:30) and Appointment 2 'Call' (09:15–10:00) overlap"}),
        (fields(music_1_kind="genre", music_1_what="rock", music_1_length="half an hour"),
         {"music-1-length": "Enter whole minutes, for example 30"}),
        (fields(music_1_kind="inline", music_1_length="3:00"),
         {"music-1-what": "Enter the song's title"}),
        (fields(todos_0_earliest="11:30", todos_0_latest="12:00"),
         {"todos-0-latest": "60 minutes do not fit between earliest (11:30) and latest "
                            "(12:00)"}),
        (fields(music_0_length="2:00"), {}),
    ],
)  # fmt: skip
async def test_plans_that_cannot_be_made_name_the_input(
    client: httpx.AsyncClient, change: dict[str, str], expected: dict[str, str]
) -> None:
    response = await client.post("/", data=DAY | PLAN | change)
    doc = parse(response.text)
    assert errors(doc) == expected
    assert response.status_code == (422 if expected else 200)
    assert all(form_values(doc)[k] == v for k, v in change.items())


# --- the calendar file -----------------------------------------------------------------


async def test_download_ics_gives_the_plan_as_a_calendar(client: httpx.AsyncClient) -> None:
    response = await client.post("/plan.ics", data=DAY | {"action": "ics"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert response.headers["content-disposition"] == 'attachment; filename="tempo-2026-11-23.ics"'
    calendar = Calendar.from_ical(response.content)
    events = [
        (str(e["summary"]), e.decoded("dtstart"), e.decoded("dtend"))
        for e in calendar.walk("VEVENT")
    ]
    day = dt.date(2026, 11, 23)

    def at(h: int, m: int, s: int = 0) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(h, m, s))

    assert sorted(events, key=lambda e: e[1]) == [
        ("Report", at(8, 0), at(9, 0)),
        ("Stand-up", at(9, 0), at(9, 30)),
        ("♪ Intro — Band", at(9, 30), at(9, 33, 30)),
    ]


async def test_download_ics_with_problems_shows_the_page(client: httpx.AsyncClient) -> None:
    response = await client.post("/plan.ics", data=DAY | fields(appointments_0_end="08:00"))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "appointments-0-end" in errors(parse(response.text))


@pytest.mark.parametrize("path", ["/", "/plan.ics"])
async def test_a_form_over_the_size_limit_is_a_page_that_says_so(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.post(path, data={"appointments_0_title": "x" * (1024 * 1024)})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    notice = parse(response.text).one(class_="notice").text()
    assert notice.startswith("The body is ") and "this route takes 1,048,576" in notice


# --- the catalog -------------------------------------------------------------------------


@pytest.fixture
async def catalog(engine: AsyncEngine) -> None:
    assert await seed_demo_catalog(engine)


@pytest.mark.usefixtures("catalog")
async def test_search_add_and_plan_catalog_songs(client: httpx.AsyncClient) -> None:
    browser = Browser(client)
    await browser.open()
    doc = await browser.submit({"action": "search"}, DAY | {"q": "dance monkey"})
    assert browser.response is not None and browser.response.status_code == 200
    # Expected from the demo file itself: every word in "title artist", most popular first.
    rows = [
        r for r in demo_rows() if "dance monkey" in f"{r['track_name']} {r['track_artist']}".lower()
    ]
    popularity = {r["track_id"]: int(r["track_popularity"]) for r in rows}
    ids = sorted(popularity, key=lambda i: (-popularity[i], i))
    genres = {
        i: ", ".join(sorted({r["playlist_genre"] for r in rows if r["track_id"] == i})) for i in ids
    }
    first = {r["track_id"]: r for r in reversed(rows)}  # each track's first row in the file
    results = doc.one("table", class_="results")
    assert results.one("caption").text() == f"{len(ids)} tracks match “dance monkey”"
    listed = results.one("tbody").all("tr")
    assert [[c.text() for c in row.all() if c.tag in ("th", "td")][:6] for row in listed] == [
        ["Dance Monkey", "Tones and I", first[i]["track_album_name"],
         first[i]["track_album_release_date"][:4], genres[i], "3:29"]
        for i in ids
    ]  # fmt: skip
    top = first[ids[0]]
    release = f"{top['track_album_name']}, {top['track_album_release_date'][:4]}"
    add = listed[0].one("button")
    assert add.attrs["value"] == ids[0]
    assert add.text() == f"Add Dance Monkey ({release}) to my songs"
    assert form_values(doc)["todos-0-title"] == "Report"  # what was typed stays

    doc = await browser.submit({"add_track": ids[0]})
    values = form_values(doc)
    assert (values["music-1-kind"], values["music-1-what"]) == ("track", ids[0])
    hint = doc.one(id="music-1-what-hint").text()
    assert hint == f"Dance Monkey — Tones and I ({release}; 3:29)"
    assert doc.one(class_="added").text() == f"Added Dance Monkey ({release}) as song 2."
    assert doc.all("table", class_="results")  # the results stay for the next pick

    # Free text is matched too; the song plays after the inline one, back to back.
    doc = await browser.submit(
        PLAN, fields(music_2_kind="text", music_2_what="bad guy - Billie Eilish")
    )
    music = [row for row in timeline(doc) if row[3] == "Music"]
    assert music == [
        ("09:30", "09:33:30", "3 min 30 s", "Music", "Intro — Band"),
        ("09:33:30", "09:36:59", "3 min 29 s", "Music", "Dance Monkey — Tones and I"),
        ("09:36:59", "09:40:13", "3 min 14 s", "Music", "bad guy — Billie Eilish"),
    ]
    playlist = doc.one("li", class_="music")
    assert playlist.one(class_="what").text() == "3 songs: Intro, Dance Monkey, bad guy"


# Three of the seven "Sweet Home Alabama" by Lynyrd Skynyrd in the real Spotify file, as
# they are there: the same title and artist on different albums and years (one year-only).
ALABAMA = [
    song(track_id="7e89621JPkKaeDSTQ3avtg", track_name="Sweet Home Alabama",
         track_artist="Lynyrd Skynyrd", track_popularity="81", track_album_name="Second Helping",
         track_album_release_date="1974-04-15", playlist_genre="rock", duration_ms="283800"),
    song(track_id="0thtEWfxrgpXfLTDQkNxCP", track_name="Sweet Home Alabama",
         track_artist="Lynyrd Skynyrd", track_popularity="31",
         track_album_name="Rock Legends eAlbum (International Version)",
         track_album_release_date="2007-01-01", playlist_genre="rock", duration_ms="284187"),
    song(track_id="7r45JFRfUkMjj5PHdAmRYk", track_name="Sweet Home Alabama",
         track_artist="Lynyrd Skynyrd", track_popularity="4",
         track_album_name="The Essential Lynyrd Skynyrd", track_album_release_date="1998",
         playlist_genre="rock", duration_ms="283733"),
    song(track_id="noalbum", track_name="Sweet Home Alabama", track_artist="Lynyrd Skynyrd",
         track_popularity="1", track_album_name="NA", track_album_release_date="NA",
         playlist_genre="rock", duration_ms="283000"),
]  # fmt: skip


async def test_same_title_and_artist_are_told_apart_by_album_and_year(
    client: httpx.AsyncClient, engine: AsyncEngine, tmp_path: Path
) -> None:
    await load_catalog(engine, songs_csv(tmp_path / "alabama.csv", ALABAMA))
    browser = Browser(client)
    await browser.open()
    doc = await browser.submit({"action": "search"}, DAY | {"q": "sweet home alabama"})
    results = doc.one("table", class_="results")
    assert [th.text() for th in results.one("thead").all("th")][:6] == [
        "Title", "Artist", "Album", "Year", "Genre", "Length",
    ]  # fmt: skip
    listed = [
        [c.text() for c in row.all() if c.tag in ("th", "td")][:6]
        for row in results.one("tbody").all("tr")
    ]
    assert listed == [
        ["Sweet Home Alabama", "Lynyrd Skynyrd", "Second Helping", "1974", "rock", "4:44"],
        ["Sweet Home Alabama", "Lynyrd Skynyrd", "Rock Legends eAlbum (International Version)",
         "2007", "rock", "4:44"],
        ["Sweet Home Alabama", "Lynyrd Skynyrd", "The Essential Lynyrd Skynyrd", "1998", "rock",
         "4:44"],
        ["Sweet Home Alabama", "Lynyrd Skynyrd", "–", "–", "rock", "4:43"],
    ]  # fmt: skip
    # Each button says which one it adds.
    buttons = [b.text() for b in results.all("button")]
    assert buttons[:3] == [
        "Add Sweet Home Alabama (Second Helping, 1974) to my songs",
        "Add Sweet Home Alabama (Rock Legends eAlbum (International Version), 2007) to my songs",
        "Add Sweet Home Alabama (The Essential Lynyrd Skynyrd, 1998) to my songs",
    ]
    assert buttons[3] == "Add Sweet Home Alabama to my songs"
    assert len(set(buttons)) == 4

    # The one picked, the 1998 compilation, is named by its album and year beside its row.
    doc = await browser.submit({"add_track": "7r45JFRfUkMjj5PHdAmRYk"})
    assert doc.one(id="music-1-what-hint").text() == (
        "Sweet Home Alabama — Lynyrd Skynyrd (The Essential Lynyrd Skynyrd, 1998; 4:44)"
    )
    added = doc.one(class_="added").text()
    assert added == "Added Sweet Home Alabama (The Essential Lynyrd Skynyrd, 1998) as song 2."
    doc = await browser.submit({"add_track": "noalbum"})
    assert doc.one(id="music-2-what-hint").text() == "Sweet Home Alabama — Lynyrd Skynyrd (4:43)"

    # GET /tracks carries the same album and release date, for programs to tell them apart.
    body = (await client.get("/tracks", params={"q": "sweet home alabama"})).json()
    releases = [
        (t["album_name"], t["release_date"], t["release_precision"]) for t in body["tracks"]
    ]
    assert releases == [
        ("Second Helping", "1974-04-15", "day"),
        ("Rock Legends eAlbum (International Version)", "2007-01-01", "day"),
        ("The Essential Lynyrd Skynyrd", "1998-01-01", "year"),
        (None, None, None),
    ]


@pytest.mark.usefixtures("catalog")
async def test_enter_searches_a_new_query_and_plans_otherwise(client: httpx.AsyncClient) -> None:
    default = {"action": "default"}  # the hidden first button: what Enter presses
    doc = await post(client, DAY | default | {"q": "billie"})
    assert doc.all("table", class_="results") and not doc.all(id="plan")
    assert form_values(doc)["searched"] == "billie"
    doc = await post(client, form_values(doc) | default)
    assert doc.all(id="plan") and not doc.all("table", class_="results")


@pytest.mark.usefixtures("catalog")
async def test_catalog_problems_are_shown_on_the_page(client: httpx.AsyncClient) -> None:
    response = await client.post("/", data=DAY | PLAN | fields(
        music_1_kind="genre", music_1_what="polka", music_1_length="20"))  # fmt: skip
    assert response.status_code == 422
    [(name, message)] = errors(parse(response.text)).items()
    assert name == "music-1-what" and message.startswith("Unknown genre 'polka'; known: edm")

    doc = await post(client, DAY | PLAN | fields(music_1_kind="track", music_1_what="nope",
                                                 music_2_what="zzzz qqqq"))  # fmt: skip
    assert [li.text() for li in doc.one("ul", class_="unplaced").all("li")] == [
        "Song 2 (music) “nope”: unknown track",
        "Song 3 (music) “zzzz qqqq”: no track in the catalog matches this text",
    ]
    nothing = await post(client, DAY | {"action": "search", "q": "zzzz qqqq"})
    assert "No track in the catalog matches “zzzz qqqq”." in nothing.text()
    empty = await client.post("/", data=DAY | {"action": "search", "q": "  "})
    assert empty.status_code == 422 and "q" in errors(parse(empty.text))
    long = await client.post("/", data=DAY | {"action": "search", "q": "a " * 150})
    assert errors(parse(long.text)) == {"q": "Search for at most 200 characters"}


@pytest.mark.parametrize(
    ("wanted", "limit"),
    [
        ([0.0, 0.2, 0.4, 0.6, 5.0, 5.1], 12.0),  # crowded, then room again
        ([-0.5, 11.5, 11.6, 11.7], 12.0),  # above the top, and over the bottom
        ([float(i) * 0.1 for i in range(20)], 22.0),  # exactly as many as fit
    ],
)
def test_side_labels_are_stacked_without_overlap(wanted: list[float], limit: float) -> None:
    size = SIDE_LABEL_REM
    tops = _stack(wanted, size, limit)
    assert len(tops) == len(wanted)
    assert all(0 <= top and top + size <= limit + 1e-9 for top in tops)
    assert all(b - a >= size - 1e-9 for a, b in itertools.pairwise(tops))
    # A label that has room sits where it was wanted.
    for i, (want, top) in enumerate(zip(wanted, tops, strict=True)):
        before_free = i == 0 or wanted[i - 1] + size <= want
        after_free = i == len(wanted) - 1 or want + size <= wanted[i + 1]
        if before_free and after_free and 0 <= want <= limit - size:
            assert top == want


SAMPLE_CALENDAR = Path(__file__).resolve().parents[1] / "samples" / "day.ics"


async def test_the_page_imports_a_calendar_without_javascript(client: httpx.AsyncClient) -> None:
    day = {"action": "plan", "date": "2026-11-23", "day_start": "08:00", "day_end": "19:00"}
    files = {"calendar_file": ("day.ics", SAMPLE_CALENDAR.read_bytes(), "text/calendar")}
    response = await client.post("/", data=day, files=files)
    assert response.status_code == 200, response.text
    doc = parse(response.text)
    # No time zone typed, and no script to fill it in: the calendar's own (X-WR-TIMEZONE).
    assert doc.one(id="plan-title").text().endswith("08:00–19:00 (Europe/Paris)")
    assert [li.text() for li in doc.one("ul", class_="all-day").all("li")] == ["Mum's birthday"]
    rows = timeline(doc)
    assert ("15:00", "16:00", "1 h", "Calendar", "Client call") in rows
    assert not any("Dentist" in row[-1] for row in rows)  # cancelled
    # Shown again (a row added), the page still holds the calendar.
    kept = await client.post("/", data=day | {"action": "add-todo", "calendar":
                             SAMPLE_CALENDAR.read_text(), "calendar_name": "day.ics"})  # fmt: skip
    assert "Imported: day.ics." in kept.text

    wrong = {"calendar_file": ("photo.png", b"\x89PNG\r\n", "image/png")}
    refused = await client.post("/", data=day, files=wrong)
    assert refused.status_code == 422
    assert errors(parse(refused.text))["calendar_file"].startswith("photo.png is not an iCalendar")
    broken = {"calendar_file": ("day.ics", b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", "text/calendar")}
    failed = await client.post("/", data=day, files=broken)
    assert failed.status_code == 422
    assert "Not a valid iCalendar file" in errors(parse(failed.text))["calendar_file"]
