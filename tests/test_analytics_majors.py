"""`tempo etl majors`: women-stem.csv into a Delta table and PostgreSQL, and the answers that
Polars SQL gives on the Delta table, at the latest version and at earlier ones."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.analytics import majors
from tempo.analytics.delta import DeltaLocation
from tempo.analytics.errors import AnalyticsError
from tempo.analytics.etl import category_totals, load_majors, read_majors
from tempo.core.csv_input import CsvError
from tempo.core.settings import Settings
from tests.fixtures.analytics import majors_csv, read_rows
from tests.fixtures.files import write
from tests.fixtures.http_server import serve_bytes

HEADER = "Rank,Major_code,Major,Major_category,Total,Men,Women,ShareWomen,Median\n"
SMALL = HEADER + (
    "1,1001,ROCKET SCIENCE,Engineering,100,75,25,0.25,90000\n"
    '2,1002,"BIOLOGY, MARINE",Biology & Life Science,300,100,200,0.666666667,40000\n'
    "3,1003,NURSING,Health,50,5,45,0.9,45000\n"
)


@pytest.fixture
def location(tmp_path: Path) -> DeltaLocation:
    return DeltaLocation(str(tmp_path / "delta" / "majors"))


def reference() -> list[dict[str, object]]:
    """The real file by the csv module: the blank last line yields no record there."""
    return [
        {
            "major_code": int(r["Major_code"]),
            "major": r["Major"],
            "major_category": r["Major_category"],
            "rank": int(r["Rank"]),
            "total": int(r["Total"]),
            "men": int(r["Men"]),
            "women": int(r["Women"]),
            "share_women": int(r["Women"]) / int(r["Total"]),
            "median_earnings": int(r["Median"]),
        }
        for r in read_rows(majors_csv())
    ]


def test_the_real_file_ends_with_a_blank_line_that_is_not_a_major() -> None:
    raw = majors_csv().read_bytes()
    assert raw.endswith(b",26000\n\n")  # the quirk SOURCES.md describes
    frame = read_majors(majors_csv())
    assert frame.height == 76 == len(reference())
    assert frame.to_dicts() == reference()
    for row in read_rows(majors_csv()):  # the file's own share agrees with its counts
        assert float(row["ShareWomen"]) == pytest.approx(int(row["Women"]) / int(row["Total"]))


@pytest.mark.parametrize(
    ("body", "message", "row", "column"),
    [
        (HEADER + "1,1,A,B,10,5,5,0.5,x\n", "not an integer", 1, "Median"),
        (HEADER + "1,1,A,B,10,5,5,0.5,1\n2,2,C,D,10,6,5,0.5,1\n", "Men + Women is not Total", 2,
         "Total"),
        (HEADER + "1,1,A,B,10,5,5,0.7,1\n", "not Women / Total", 1, "ShareWomen"),
        (HEADER + "1,1,A,B,10,5,5,0.5,1\n2,1,C,D,4,2,2,0.5,1\n", "duplicate major code", 2,
         "Major_code"),
        (HEADER + "1,1,A,B,0,0,0,0,1\n", "no graduates", 1, "Total"),
        (HEADER + "1,1, ,B,10,5,5,0.5,1\n", "empty value", 1, "Major"),
        (HEADER + "1,1,A,B,10,-5,15,1.5,1\n", "negative", 1, "Men"),
    ],
)  # fmt: skip
def test_a_bad_row_refuses_the_file_naming_row_and_column(
    tmp_path: Path, body: str, message: str, row: int, column: str
) -> None:
    path = write(tmp_path / "bad.csv", body)
    with pytest.raises(CsvError, match=re.escape(message)) as caught:
        read_majors(path)
    assert (caught.value.problem.row, caught.value.problem.column) == (row, column)


def test_files_that_are_not_women_stem_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CsvError, match="missing column 'Men', 'Women', 'ShareWomen', 'Median'"):
        read_majors(write(tmp_path / "a.csv", "Rank,Major_code,Major,Major_category,Total\n"))
    with pytest.raises(CsvError, match="no data rows"):
        read_majors(write(tmp_path / "b.csv", HEADER + "\n"))
    with pytest.raises(CsvError, match="file not found"):
        read_majors(tmp_path / "none.csv")


async def test_each_load_is_a_new_version_mirrored_in_postgresql(
    engine: AsyncEngine, location: DeltaLocation, tmp_path: Path
) -> None:
    first = await load_majors(engine, location, majors_csv())
    assert (first.version, first.rows, first.table) == (0, 76, location.uri)
    small = write(tmp_path / "small.csv", SMALL)
    second = await load_majors(engine, location, small)
    assert second.version == 1 and second.rows == 3

    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM majors ORDER BY major_code"))).mappings()
        loaded = [dict(r) for r in rows]
    assert [r["major"] for r in loaded] == ["ROCKET SCIENCE", "BIOLOGY, MARINE", "NURSING"]
    assert {r["delta_version"] for r in loaded} == {1}
    assert loaded[1]["share_women"] == pytest.approx(200 / 300)

    history = majors.versions(location).versions
    assert [(v.version, v.rows) for v in history] == [(1, 3), (0, 76)]

    # Time travel: version 0 still answers with the real file, the latest with the small one.
    assert majors.largest(location, 0, 1).majors[0].major == "BIOLOGY"
    latest = majors.largest(location, None, 5)
    assert [m.major for m in latest.majors] == ["BIOLOGY, MARINE", "ROCKET SCIENCE", "NURSING"]
    assert (latest.delta.version, latest.delta.latest_version) == (1, 1)
    with pytest.raises(AnalyticsError) as missing:
        majors.largest(location, 7)
    assert (missing.value.status, missing.value.code) == (404, "version_not_found")
    assert missing.value.details == {"versions": [0, 1]}


async def test_a_refused_file_changes_neither_table(
    engine: AsyncEngine, location: DeltaLocation, tmp_path: Path
) -> None:
    await load_majors(engine, location, majors_csv())
    bad = write(tmp_path / "bad.csv", HEADER + "1,1,A,B,10,5,4,0.5,1\n")
    with pytest.raises(CsvError, match=r"bad.csv, row 1, column 'Total'"):
        await load_majors(engine, location, bad)
    assert [v.version for v in majors.versions(location).versions] == [0]
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM majors"))).scalar() == 76


async def test_the_source_can_be_a_url(
    engine: AsyncEngine, location: DeltaLocation, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/women-stem.csv").respond_with_handler(
        serve_bytes(majors_csv().read_bytes())
    )
    loaded = await load_majors(engine, location, httpserver.url_for("/women-stem.csv?token=s3cret"))
    assert loaded.rows == 76 and loaded.source == httpserver.url_for("/women-stem.csv")


async def test_the_real_answers_match_an_independent_computation(
    engine: AsyncEngine, location: DeltaLocation
) -> None:
    loaded = await load_majors(engine, location, majors_csv())
    expected = reference()

    largest = majors.largest(location, limit=5)
    by_total = sorted(expected, key=lambda r: (-int(str(r["total"])), str(r["major"])))[:5]
    assert [m.model_dump() for m in largest.majors] == by_total
    assert [m.major for m in largest.majors][:3] == ["BIOLOGY", "NURSING", "COMPUTER SCIENCE"]

    sums: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in expected:
        totals = sums[str(row["major_category"])]
        totals[0] += 1
        totals[1] += int(str(row["men"]))
        totals[2] += int(str(row["women"]))
        totals[3] += int(str(row["total"]))
    categories = majors.by_category(location).categories
    assert {c.major_category: [c.majors, c.men, c.women, c.total] for c in categories} == sums
    assert [c.total for c in categories] == sorted((t[3] for t in sums.values()), reverse=True)
    for c in categories:
        assert c.share_women == pytest.approx(c.women / c.total)
        assert c.men + c.women == c.total
    # The transform's own totals and the SQL on the Delta table agree.
    assert category_totals(read_majors(majors_csv())).to_dicts() == [
        c.model_dump() for c in categories
    ]
    assert loaded.categories.height == 5
    engineering = next(c for c in categories if c.major_category == "Engineering")
    assert (engineering.majors, engineering.total) == (29, 537583)

    share = majors.share_vs_earnings(location)
    xs = [float(str(r["share_women"])) for r in expected]
    ys = [float(str(r["median_earnings"])) for r in expected]
    line = statistics.linear_regression(xs, ys)
    assert share.fit.n == 76
    assert share.fit.slope == pytest.approx(line.slope, rel=1e-9)
    assert share.fit.intercept == pytest.approx(line.intercept, rel=1e-9)
    assert share.fit.r == pytest.approx(statistics.correlation(xs, ys), rel=1e-9)
    assert share.fit.slope_per_10_points == pytest.approx(line.slope / 10)
    assert share.fit.r < -0.5  # more women, lower median earnings, across these majors
    assert [p.share_women for p in share.points] == sorted(xs)


def test_a_table_that_was_never_loaded_says_how_to_load_it(location: DeltaLocation) -> None:
    for ask in (lambda: majors.largest(location), lambda: majors.versions(location)):
        with pytest.raises(AnalyticsError) as caught:
            ask()
        assert caught.value.code == "not_loaded" and "tempo etl majors" in caught.value.message


def test_delta_locations_from_settings() -> None:
    def settings(**values: object) -> Settings:
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    local = DeltaLocation.of(settings(delta_dir="/srv/delta/"), "majors")
    assert (local.uri, local.storage_options) == ("/srv/delta/majors", None)
    s3 = DeltaLocation.of(
        settings(
            delta_dir="s3://lake/tempo/",
            s3_endpoint_url="http://127.0.0.1:9000",
            s3_access_key_id="key",
            s3_secret_access_key="secret",
        ),
        "majors",
    )
    assert s3.uri == "s3://lake/tempo/majors"
    assert s3.storage_options is not None
    assert s3.storage_options["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    assert s3.storage_options["AWS_ALLOW_HTTP"] == "true"
    assert s3.storage_options["AWS_SECRET_ACCESS_KEY"] == "secret"
    with pytest.raises(AnalyticsError, match="local folder or an s3:// URI"):
        DeltaLocation.of(settings(delta_dir="gs://bucket/delta"), "majors")
