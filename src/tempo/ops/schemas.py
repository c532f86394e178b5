from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "ready", "database": "ok", "migrations": "current"}]
        }
    )

    status: Literal["ready"] = "ready"
    database: Literal["ok"] = "ok"
    migrations: Literal["current"] = "current"
