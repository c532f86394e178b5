"""The ceiling for POST /schedule on FastAPI: one route that takes the same body the usual
FastAPI way (a `ScheduleRequest` parameter, fully validated) and answers `{}`. Whatever
Tempo does beyond this is planning the day and encoding the plan."""

from __future__ import annotations

from fastapi import FastAPI, Response

from tempo.schedule.schemas import ScheduleRequest

app = FastAPI(
    # As Tempo's app: no per-request OpenTelemetry probe.
    telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
)


@app.post("/schedule")
async def validate_only(body: ScheduleRequest) -> Response:
    return Response(b"{}", media_type="application/json")
