"""The page's flat form fields (appointments-0-title, …) to a ScheduleRequest, and errors back.

Values are kept exactly as typed, as strings, so that every re-render (a row added, a search,
an error) shows the person what they entered. Only `to_request` interprets them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from tempo.schedule.schemas import ScheduleRequest
from tempo.schedule.service import InvalidSchedule

Section = Literal["appointments", "todos", "music"]
SECTIONS: tuple[Section, ...] = ("appointments", "todos", "music")

ROW_FIELDS: dict[Section, tuple[str, ...]] = {
    "appointments": ("title", "start", "end", "essential"),
    "todos": ("title", "duration", "earliest", "latest", "priority"),
    # label_id/label: the catalog track a row was added from, shown beside its id.
    "music": ("kind", "what", "length", "label_id", "label"),
}
# A row counts as filled in by these alone: a checkbox, priority or kind left at its
# default is not something the person entered.
FILLED_BY: dict[Section, tuple[str, ...]] = {
    "appointments": ("title", "start", "end"),
    "todos": ("title", "duration", "earliest", "latest"),
    "music": ("what", "length"),
}
ROW_DEFAULTS: dict[Section, dict[str, str]] = {
    "appointments": {"essential": "on"},
    "todos": {"priority": "3"},
    "music": {"kind": "text"},
}
DEFAULT_ROWS = 3
# Bounds the page and the form body; far beyond a day anyone plans by hand.
MAX_ROWS = 50

MUSIC_KINDS = {
    "text": "Title - artist, from the catalog",
    "inline": "My own song, with its length",
    "genre": "A genre, for some minutes",
    "track": "A catalog track id",
}
ROW_NAME = re.compile(r"^(appointments|todos|music)-(\d{1,3})-([a-z_]+)$")
DAY_DEFAULTS = {
    "date": "",
    "day_start": "07:00",
    "day_end": "23:00",
    "min_gap": "0",
    "timezone": "",
}
DAY_LABELS = {
    "calendar_file": "Calendar (.ics)",
    "timezone": "Time zone",
    "date": "Date",
    "day_start": "Day starts",
    "day_end": "Day ends",
    "min_gap": "Minimum gap",
}
SECTION_LABELS: dict[Section, str] = {
    "appointments": "Appointment",
    "todos": "To-do",
    "music": "Song",
}
FIELD_LABELS = {
    "title": "title",
    "start": "start",
    "end": "end",
    "essential": "essential",
    "duration": "duration",
    "earliest": "earliest",
    "latest": "latest",
    "priority": "priority",
    "kind": "kind",
    "what": "what",
    "length": "length",
}

# ScheduleRequest field names → form field names. `None` is the row as a whole (a model
# validator's error), shown on the input that most likely needs changing.
_TOP_FIELDS = {
    "date": "date",
    "day_start": "day_start",
    "day_end": "day_end",
    "min_gap_minutes": "min_gap",
    "timezone": "timezone",
    "calendar": "calendar_file",
}
_ROW_FIELDS: dict[str, dict[str | None, str]] = {
    "appointments": {
        "title": "title",
        "start": "start",
        "end": "end",
        "essential": "essential",
        None: "end",
    },
    "todos": {
        "title": "title",
        "duration_minutes": "duration",
        "earliest": "earliest",
        "latest": "latest",
        "priority": "priority",
        None: "latest",
    },
    "music": {
        "track_id": "what",
        "text": "what",
        "genre": "what",
        "title": "what",
        "artist": "what",
        "minutes": "length",
        "duration_seconds": "length",
        None: "what",
    },
}
_SOURCE = re.compile(r"\b(appointments|todos|music)\[(\d+)\]")
_CALENDAR_SOURCE = re.compile(r"calendar\[(\d+)\]")
_CLOCK_LENGTH = re.compile(r"^(?:(\d{1,2}):)?(\d{1,3}):([0-5]\d)$")
_ARTIST_SEPARATOR = re.compile(r"\s+[-–—]\s+")
_WHOLE_MINUTE = re.compile(r"\b(\d{2}:\d{2}):00\b")
_API_WORDS = {"day_end must be after day_start": "the day must end after it starts"}
MAX_SONG_SECONDS = 4 * 3600


def blank_row(section: Section) -> dict[str, str]:
    return {name: ROW_DEFAULTS[section].get(name, "") for name in ROW_FIELDS[section]}


def is_filled(section: Section, row: Mapping[str, str]) -> bool:
    return any(row.get(name, "").strip() for name in FILLED_BY[section])


def field_label(name: str) -> str:
    """'todos-2-latest' → 'To-do 3, latest'; 'day_end' → 'Day ends'."""
    match = ROW_NAME.match(name)
    if match is None:
        return DAY_LABELS.get(name, "The plan")
    section, index, part = match.groups()
    return f"{SECTION_LABELS[section]} {int(index) + 1}, {FIELD_LABELS.get(part, part)}"  # type: ignore[index]


@dataclass
class PlanForm:
    """Everything the page's form holds, as typed."""

    day: dict[str, str] = field(default_factory=lambda: dict(DAY_DEFAULTS))
    rows: dict[Section, list[dict[str, str]]] = field(
        default_factory=lambda: {s: [blank_row(s) for _ in range(DEFAULT_ROWS)] for s in SECTIONS}
    )
    q: str = ""
    # The query whose results are on the page: Enter in a changed search box searches.
    searched: str = ""
    # The imported calendar's text and file name, kept in hidden inputs across re-renders
    # (a browser never fills a file input in again).
    calendar: str = ""
    calendar_name: str = ""

    @classmethod
    def blank(cls, today: dt.date) -> PlanForm:
        form = cls()
        form.day["date"] = today.isoformat()
        return form

    @classmethod
    def parse(cls, data: Mapping[str, str]) -> PlanForm:
        form = cls(
            day={name: data.get(name, default) for name, default in DAY_DEFAULTS.items()},
            q=data.get("q", ""),
            searched=data.get("searched", ""),
            calendar=data.get("calendar", ""),
            calendar_name=data.get("calendar_name", ""),
        )
        highest: dict[str, int] = {}
        for name in data:
            match = ROW_NAME.match(name)
            if match is not None and int(match[2]) < MAX_ROWS:
                highest[match[1]] = max(highest.get(match[1], 0), int(match[2]) + 1)
        for section in SECTIONS:
            count = max(DEFAULT_ROWS, highest.get(section, 0), _int(data.get(f"{section}-rows")))
            rows = []
            for index in range(min(count, MAX_ROWS)):
                row = {
                    name: data.get(f"{section}-{index}-{name}", "") for name in ROW_FIELDS[section]
                }
                rows.append(_with_defaults(section, row))
            form.rows[section] = rows
        return form

    def add_row(self, section: Section) -> bool:
        if len(self.rows[section]) >= MAX_ROWS:
            return False
        self.rows[section].append(blank_row(section))
        return True

    def add_track(self, track_id: str, label: str) -> int | None:
        """Into the first empty song row, else a new one: that row, or None when full."""
        rows = self.rows["music"]
        free = next((i for i, row in enumerate(rows) if not is_filled("music", row)), None)
        if free is None:
            if not self.add_row("music"):
                return None
            free = len(rows) - 1
        rows[free] = blank_row("music") | {
            "kind": "track",
            "what": track_id,
            "label_id": track_id,
            "label": label,
        }
        return free

    def field_names(self) -> Iterator[str]:
        """Every input in page order, to list errors in the order a person meets them."""
        yield from (name for name in DAY_DEFAULTS if name != "timezone")
        yield from ("calendar_file", "timezone")  # the calendar's fieldset, after the day's
        for section in SECTIONS:
            for index in range(len(self.rows[section])):
                for name in ROW_FIELDS[section]:
                    yield f"{section}-{index}-{name}"

    def ordered(self, errors: Mapping[str, str]) -> dict[str, str]:
        order = {name: i for i, name in enumerate(self.field_names())}
        return dict(sorted(errors.items(), key=lambda item: order.get(item[0], -1)))

    def to_request(self) -> FormRequest:
        """The request these values describe; InvalidForm names every input at fault."""
        errors: dict[str, str] = {}
        body: dict[str, Any] = {}
        for key, name in _TOP_FIELDS.items():
            if value := self.day.get(name, "").strip():
                body[key] = value
        used: dict[Section, list[int]] = {section: [] for section in SECTIONS}
        for section in SECTIONS:
            items: list[dict[str, Any]] = []
            for index, row in enumerate(self.rows[section]):
                if not is_filled(section, row):
                    continue
                item = _item(section, index, row, errors)
                if item is not None:
                    used[section].append(index)
                    items.append(item)
            body[section] = items
        if self.calendar:
            body["calendar"] = self.calendar
        request: ScheduleRequest | None = None
        try:
            request = ScheduleRequest.model_validate(body)
        except ValidationError as exc:
            for error in exc.errors():
                name = form_field(error["loc"], used)
                errors.setdefault(name, _message(error))
        if errors or request is None:
            raise InvalidForm(self.ordered(errors))
        return FormRequest(request, used)


class InvalidForm(Exception):
    """Form field name → what is wrong with it ("" for the form as a whole)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class FormRequest:
    request: ScheduleRequest
    # For each section, the form row behind each request item (empty rows are skipped).
    rows: Mapping[Section, Sequence[int]]

    def row_label(self, source: str) -> str:
        """'todos[1]' → 'To-do 3' when the second to-do came from the form's third row."""
        match = _SOURCE.fullmatch(source)
        if match is None:
            calendar = _CALENDAR_SOURCE.fullmatch(source)
            return f"Calendar event {int(calendar[1]) + 1}" if calendar else source
        section: Section = match[1]  # type: ignore[assignment]
        index = int(match[2])
        rows = self.rows[section]
        row = rows[index] if index < len(rows) else index
        return f"{SECTION_LABELS[section]} {row + 1}"

    def errors_from(self, error: InvalidSchedule, form: PlanForm) -> dict[str, str]:
        errors: dict[str, str] = {}
        for problem in error.problems:
            parts: list[str | int] = list(problem.field.split("."))
            # Two essential appointments that overlap: the start is what usually moves.
            if error.code == "conflicting_appointments" and len(parts) == 3:
                parts.append("start")
            name = form_field(parts, self.rows)
            message = _SOURCE.sub(lambda m: self.row_label(m[0]), problem.message)
            errors.setdefault(name, _sentence(message))
        return form.ordered(errors)


def form_field(location: Sequence[str | int], rows: Mapping[Section, Sequence[int]]) -> str:
    """('appointments', 0, 'end') → 'appointments-2-end' when request item 0 is form row 2;
    '' when the location names no single input."""
    parts = list(location)
    if parts[:1] == ["body"]:
        parts = parts[1:]
    if not parts:
        return ""
    head = str(parts[0])
    if head in _TOP_FIELDS and len(parts) == 1:
        return _TOP_FIELDS[head]
    if head not in _ROW_FIELDS or len(parts) < 2 or not str(parts[1]).isdigit():
        return ""
    section_rows = rows[head]  # type: ignore[index]
    index = int(parts[1])
    if index >= len(section_rows):
        return ""
    part = str(parts[2]) if len(parts) > 2 else None
    names = _ROW_FIELDS[head]
    return f"{head}-{section_rows[index]}-{names.get(part, names[None])}"


def parse_length(text: str) -> int | None:
    """'3:30' → 210 seconds, '1:02:03' → 3723, '4' or '3.5' → minutes; None if unreadable."""
    text = text.strip().lower().removesuffix("min").strip()
    match = _CLOCK_LENGTH.match(text)
    if match is not None:
        hours, minutes, seconds = (int(part) if part else 0 for part in match.groups())
        total = hours * 3600 + minutes * 60 + seconds
    else:
        try:
            total = round(float(text.replace(",", ".")) * 60)
        except ValueError:
            return None
    return total if total > 0 else None


def _item(
    section: Section, index: int, row: Mapping[str, str], errors: dict[str, str]
) -> dict[str, Any] | None:
    """One request item, or None after noting in `errors` why the row cannot be one."""
    if section == "appointments":
        item: dict[str, Any] = _present(row, title="title", start="start", end="end")
        return item | {"essential": row.get("essential") == "on"}
    if section == "todos":
        return _present(
            row,
            title="title",
            duration_minutes="duration",
            earliest="earliest",
            latest="latest",
            priority="priority",
        )
    name = f"music-{index}"
    kind = row.get("kind", "text")
    what, length = row.get("what", "").strip(), row.get("length", "").strip()
    before = len(errors)
    if not what:
        errors[f"{name}-what"] = {
            "inline": "Enter the song's title",
            "genre": "Enter a genre, for example pop",
            "track": "Enter a catalog track id",
        }.get(kind, "Enter a title, for example Dance Monkey - Tones and I")
    if kind == "inline":
        seconds = parse_length(length) if length else None
        if not length:
            errors[f"{name}-length"] = "Enter the song's length, for example 3:30"
        elif seconds is None:
            errors[f"{name}-length"] = "Enter a length such as 3:30 (minutes:seconds) or 4"
        elif seconds > MAX_SONG_SECONDS:
            errors[f"{name}-length"] = "A song can be at most 4 hours long"
        if len(errors) > before or seconds is None:
            return None
        # "Our song - Us": an inline song can name its artist the way catalog text does.
        title, *artist = (part.strip() for part in _ARTIST_SEPARATOR.split(what, maxsplit=1))
        song: dict[str, Any] = {"title": title or what, "duration_seconds": seconds}
        return song | ({"artist": artist[0]} if artist and artist[0] else {})
    if kind == "genre":
        if not length:
            errors[f"{name}-length"] = "Enter how many minutes, for example 30"
        elif not length.isdigit():
            errors[f"{name}-length"] = "Enter whole minutes, for example 30"
        if len(errors) > before:
            return None
        return {"genre": what, "minutes": length}
    if len(errors) > before:
        return None
    return {"track_id": what} if kind == "track" else {"text": what}


def _with_defaults(section: Section, row: dict[str, str]) -> dict[str, str]:
    """Unset inputs show their defaults again. A browser leaves an unticked checkbox out of
    the form, so "essential" is only read from a filled-in row: an untouched one is ticked."""
    filled = is_filled(section, row)
    defaults = ROW_DEFAULTS[section]
    if section == "music" and row.get("kind") not in MUSIC_KINDS:
        row["kind"] = ""
    return {
        name: ("on" if value or not filled else "")
        if name == "essential"
        else (value or defaults.get(name, ""))
        for name, value in row.items()
    }


def _present(row: Mapping[str, str], **names: str) -> dict[str, Any]:
    """Request key → form value, leaving out empty inputs so that pydantic says 'required'
    (or applies the default) instead of complaining about an empty string."""
    return {key: value for key, name in names.items() if (value := row.get(name, "").strip())}


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "missing":
        return "Required"
    if kind.startswith("time_"):
        return "Enter a time such as 09:30"
    if kind.startswith("date_"):
        return "Enter a date such as 2026-11-23"
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return "Enter a whole number"
    return _sentence(error["msg"].removeprefix("Value error, "))


def _sentence(text: str) -> str:
    """A service or pydantic message as the page shows it: times as typed (09:00, not
    09:00:00), API field names in words, a capital first letter."""
    text = _WHOLE_MINUTE.sub(r"\1", text)
    for api, words in _API_WORDS.items():
        text = text.replace(api, words)
    return text[:1].upper() + text[1:]


def _int(value: str | None) -> int:
    return int(value) if value is not None and value.isdigit() and len(value) < 4 else 0
