"""The day-plan request and response, as clients send and receive them."""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

MAX_ITEMS = 500


@functools.lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; ValueError when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name!r}: give an IANA name such as Europe/Paris"
        ) from None


def _zone_name(value: str) -> str:
    zone(value)
    return value


ZoneName = Annotated[
    str,
    AfterValidator(_zone_name),
    WithJsonSchema(
        {
            "type": "string",
            "description": "An IANA time zone",
            "examples": ["Europe/Paris", "America/New_York", "UTC"],
        }
    ),
]

# Plans are in local (floating) time, like the .ics file: a time of day carries no UTC
# offset, and whole seconds are all the planner counts.
LOCAL_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"
_LOCAL_TIME = re.compile(LOCAL_TIME_PATTERN)
LOCAL_TIME_MESSAGE = (
    "Input should be a local time of day, HH:MM or HH:MM:SS (00:00 to 23:59:59), without a "
    "UTC offset or fractions of a second"
)


def _local_time(value: Any) -> dt.time:
    # The error types are pydantic's own for a bad time, which the page words for people.
    if isinstance(value, dt.time):
        if value.tzinfo is not None:
            raise PydanticCustomError("time_type", LOCAL_TIME_MESSAGE)
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("time_parsing", LOCAL_TIME_MESSAGE)
    return _parse_local_time(value)


@functools.lru_cache(maxsize=4096)  # a day repeats few times, and a time is immutable
def _parse_local_time(value: str) -> dt.time:
    if not _LOCAL_TIME.fullmatch(value):
        raise PydanticCustomError("time_parsing", LOCAL_TIME_MESSAGE)  # not cached
    return dt.time.fromisoformat(value)


LocalTime = Annotated[
    dt.time,
    BeforeValidator(_local_time),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": LOCAL_TIME_PATTERN,
            "description": "A local time of day, HH:MM or HH:MM:SS, without a UTC offset",
            "examples": ["09:30", "17:45:30"],
        }
    ),
]

Title = Field(min_length=1, max_length=200)


class Appointment(BaseModel):
    """Fixed in time: it stays where it is."""

    model_config = ConfigDict(extra="forbid")

    title: str = Title
    start: LocalTime
    end: LocalTime
    essential: bool = Field(
        default=True,
        description="Essential items are never overlapped; a non-essential appointment that "
        "clashes with an essential one is left out",
    )

    @model_validator(mode="after")
    def _end_after_start(self) -> Appointment:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


class Todo(BaseModel):
    """Flexible: placed in free time by priority, then earliest deadline."""

    model_config = ConfigDict(extra="forbid")

    title: str = Title
    duration_minutes: int = Field(gt=0, le=24 * 60)
    earliest: LocalTime | None = Field(default=None, description="Not before this time")
    latest: LocalTime | None = Field(default=None, description="Finished by this time")
    priority: int = Field(default=3, ge=1, le=5, description="1 = most important, 5 = least")

    @model_validator(mode="after")
    def _window_fits(self) -> Todo:
        if self.earliest is not None and self.latest is not None:
            available = _seconds(self.latest) - _seconds(self.earliest)
            if available < self.duration_minutes * 60:
                raise ValueError(
                    f"{self.duration_minutes} minutes do not fit between earliest "
                    f"({self.earliest}) and latest ({self.latest})"
                )
        return self


class MusicWant(BaseModel):
    """One of: a catalog track id; free text matched against the catalog ("Dance Monkey",
    "Dance Monkey - Tones and I"); a genre with a number of minutes; or a song with its
    duration given inline."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"track_id": "5ZULALImTm80tzUbYQYM9d"},
                {"text": "Dance Monkey - Tones and I"},
                {"genre": "rock", "minutes": 30},
                {"title": "Our wedding song", "artist": "Us", "duration_seconds": 215},
            ]
        },
    )

    track_id: str | None = Field(default=None, min_length=1, max_length=64)
    text: str | None = Field(default=None, min_length=1, max_length=200)
    genre: str | None = Field(default=None, min_length=1, max_length=64)
    minutes: int | None = Field(default=None, gt=0, le=24 * 60)
    title: str | None = Field(default=None, min_length=1, max_length=200)
    artist: str | None = Field(default=None, max_length=200)
    duration_seconds: int | None = Field(default=None, gt=0, le=4 * 3600)

    @model_validator(mode="after")
    def _one_kind(self) -> MusicWant:
        # Runs for every song of a request: plain comparisons, no list to build and sum.
        genre, inline = self.genre is not None, self.title is not None
        kinds = (
            (self.track_id is not None)
            + (self.text is not None)
            + (genre or self.minutes is not None)
            + (inline or self.duration_seconds is not None)
        )
        if kinds != 1:
            raise ValueError(
                "give exactly one of: track_id; text; genre with minutes; "
                "title with duration_seconds"
            )
        if genre != (self.minutes is not None):
            raise ValueError("a genre needs minutes, and minutes need a genre")
        if inline != (self.duration_seconds is not None):
            raise ValueError("an inline song needs both title and duration_seconds")
        if self.artist is not None and not inline:
            raise ValueError("artist is only for inline songs (title + duration_seconds)")
        return self

    @property
    def kind(self) -> Literal["track", "text", "genre", "inline"]:
        if self.track_id is not None:
            return "track"
        if self.text is not None:
            return "text"
        if self.genre is not None:
            return "genre"
        return "inline"


# A calendar as a calendar app exports it: an event in Paris time, one in UTC, one all-day.
SAMPLE_CALENDAR = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example//Calendar//EN\r\n"
    "BEGIN:VEVENT\r\nUID:standup@example.com\r\nDTSTAMP:20261101T000000Z\r\n"
    "DTSTART;TZID=Europe/Paris:20261123T093000\r\nDTEND;TZID=Europe/Paris:20261123T094500\r\n"
    "RRULE:FREQ=WEEKLY;BYDAY=MO,WE\r\nSUMMARY:Stand-up\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:call@example.com\r\nDTSTAMP:20261101T000000Z\r\n"
    "DTSTART:20261123T130000Z\r\nDTEND:20261123T140000Z\r\nSUMMARY:Client call\r\n"
    "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:holiday@example.com\r\nDTSTAMP:20261101T000000Z\r\n"
    "DTSTART;VALUE=DATE:20261123\r\nDTEND;VALUE=DATE:20261124\r\nSUMMARY:Team offsite week\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)

EXAMPLE_REQUEST: dict[str, JsonValue] = {
    "date": "2026-11-23",
    "day_start": "07:00",
    "day_end": "23:00",
    "min_gap_minutes": 5,
    "appointments": [
        {"title": "Stand-up", "start": "09:00", "end": "09:15"},
        {"title": "Gym", "start": "18:00", "end": "19:00", "essential": False},
    ],
    "todos": [
        {"title": "Write report", "duration_minutes": 90, "latest": "12:00", "priority": 1},
        {"title": "Groceries", "duration_minutes": 30, "earliest": "16:00"},
    ],
    "music": [{"text": "Dance Monkey - Tones and I"}, {"genre": "rock", "minutes": 20}],
}


class ScheduleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_REQUEST]})

    date: dt.date | None = Field(default=None, description="The day planned (for the .ics)")
    day_start: LocalTime = Field(default=dt.time(7, 0))
    day_end: LocalTime = Field(default=dt.time(23, 0))
    min_gap_minutes: int = Field(default=0, ge=0, le=240, description="Between items")
    appointments: list[Appointment] = Field(default_factory=list, max_length=MAX_ITEMS)
    todos: list[Todo] = Field(default_factory=list, max_length=MAX_ITEMS)
    music: list[MusicWant] = Field(default_factory=list, max_length=MAX_ITEMS)
    calendar: str | None = Field(
        default=None,
        description="The day's calendar as iCalendar text (RFC 5545, an .ics file): its "
        "events on `date` become appointments, its all-day events are listed in `all_day`. "
        "Needs `date`. Or send it as the `calendar` part of a multipart/form-data request",
        examples=[SAMPLE_CALENDAR],
    )
    timezone: ZoneName | None = Field(
        default=None,
        description="The zone the day is planned in, for the calendar's zoned and UTC times. "
        "Unset: the calendar's X-WR-TIMEZONE, else UTC. Floating times are taken as they are",
    )

    @property
    def item_count(self) -> int:
        return len(self.appointments) + len(self.todos) + len(self.music)


Kind = Literal["appointment", "todo", "music", "free"]


class TimelineItem(BaseModel):
    kind: Kind
    title: str
    start: LocalTime
    end: LocalTime
    duration_seconds: int
    essential: bool | None = None
    artist: str | None = None
    track_id: str | None = None
    source: str | None = Field(default=None, description="The request item, e.g. todos[1]")


class Unplaced(BaseModel):
    kind: Literal["appointment", "todo", "music"]
    title: str
    reason: str
    source: str


class AllDay(BaseModel):
    """An all-day event of the calendar: listed, it blocks no time."""

    title: str
    source: str = Field(description="The calendar event, e.g. calendar[0]")


class Totals(BaseModel):
    busy_minutes: float
    music_minutes: float
    free_minutes: float


class SchedulePlan(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "date": "2026-11-23",
                    "day_start": "07:00:00",
                    "day_end": "23:00:00",
                    "timeline": [
                        {"kind": "todo", "title": "Write report", "start": "07:00:00",
                         "end": "08:30:00", "duration_seconds": 5400, "essential": True,
                         "source": "todos[0]"},
                        {"kind": "music", "title": "Dance Monkey", "artist": "Tones and I",
                         "start": "08:35:00", "end": "08:38:29", "duration_seconds": 209,
                         "track_id": "5ZULALImTm80tzUbYQYM9d", "source": "music[0]"},
                    ],
                    "unplaced": [
                        {"kind": "music", "title": "nope", "reason": "unknown track",
                         "source": "music[2]"}
                    ],
                    "totals": {"busy_minutes": 165.0, "music_minutes": 23.5,
                               "free_minutes": 771.5},
                }
            ]
        }
    )  # fmt: skip

    date: dt.date | None
    day_start: LocalTime
    day_end: LocalTime
    timeline: list[TimelineItem]
    unplaced: list[Unplaced]
    totals: Totals
    all_day: list[AllDay] = Field(
        default_factory=list, description="The calendar's all-day events on the day"
    )
    timezone: str | None = Field(
        default=None, description="The zone the calendar's times were read in; none without one"
    )


def _seconds(value: dt.time) -> int:
    return value.hour * 3600 + value.minute * 60 + value.second
