"""A plan as a plain-text table for the terminal."""

from __future__ import annotations

from tempo.schedule.schemas import SchedulePlan

KIND_LABELS = {"appointment": "appt", "todo": "to-do", "music": "♪ music", "free": "free"}


def length(seconds: int) -> str:
    """'1 h 30 min', '45 min', '3 min 30 s'."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    parts.append(f"{secs} s" if secs else "")
    return " ".join(p for p in parts if p) or "0 min"


def _clock(value: object) -> str:
    text = str(value)
    return text[:5] if text.endswith(":00") else text


def format_plan(plan: SchedulePlan) -> str:
    day = f" for {plan.date}" if plan.date else ""
    zone = f" ({plan.timezone})" if plan.timezone else ""
    lines = [f"Plan{day}, {_clock(plan.day_start)}–{_clock(plan.day_end)}{zone}", ""]
    if plan.all_day:
        lines += ["All day:", *(f"  {a.title} ({a.source})" for a in plan.all_day), ""]
    rows = [("start", "end", "kind", "what")]
    for item in plan.timeline:
        what = item.title
        if item.artist:
            what += f" — {item.artist}"
        if item.kind == "appointment" and item.essential is False:
            what += " (optional)"
        rows.append((_clock(item.start), _clock(item.end), KIND_LABELS[item.kind], what))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 4)
    if plan.unplaced:
        lines += ["", "Not placed:"]
        lines += [f"  {u.source}: {u.title}: {u.reason}" for u in plan.unplaced]
    t = plan.totals
    # In the page's words ("16 min 32 s"): the totals are minutes with two decimals, and
    # "16.53 min" reads as neither a clock time nor a duration.
    busy, music, free = (
        length(round(minutes * 60)) for minutes in (t.busy_minutes, t.music_minutes, t.free_minutes)
    )
    lines += ["", f"busy {busy} · music {music} · free {free}"]
    return "\n".join(lines)
