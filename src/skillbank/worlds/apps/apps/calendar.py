"""`calendar`: events with attendees, locations and times; invitations and RSVPs.

Each calendar holds its own copy of an event: the organiser's (my_rsvp "organizer") and
the invitations in attendees' calendars. Only the organiser may edit, reschedule or
cancel their event; attendees answer with an RSVP. Changes stay in the caller's calendar.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any, overload

from skillbank.worlds.apps.context import CallContext
from skillbank.worlds.base import ApiError
from skillbank.worlds.engine.api import (
    NOW,
    NOW_ISO,
    AppDef,
    Param,
    paginate,
    public,
    require_owner,
    sort_param,
    sort_rows,
    stable_id,
)

APP = AppDef("calendar", "Your calendar: events with attendees, locations and times; create, reschedule, cancel and RSVP.")
TABLES = {"events": "owner_id"}

RSVPS = ("accepted", "declined", "tentative", "pending")

_KINDS = (
    ("Team sync", ("Room 4B", "Video call"), 30, "work"),
    ("Project review", ("Room 2A", "Video call"), 60, "work"),
    ("Lunch", ("Green Bowl Cafe", "Noodle Bar", "Harbour Deli"), 60, "social"),
    ("Dentist appointment", ("Smile Dental Clinic",), 45, "solo"),
    ("Yoga class", ("Lotus Studio",), 60, "solo"),
    ("Dinner", ("Trattoria Roma", "Sushi Corner", "The Olive Tree"), 120, "social"),
    ("Coffee catch-up", ("Bean There", "Corner Roasters"), 30, "social"),
    ("Book club", ("City Library",), 90, "social"),
    ("Planning session", ("Room 4B", "Room 2A"), 90, "work"),
    ("Family call", ("Video call",), 45, "family"),
)

_EVENT = {
    "id": "string", "title": "string", "description": "string", "location": "string", "start": "datetime", "end": "datetime",
    "organizer": "string (email)", "attendees": [{"email": "string", "rsvp": "accepted|declined|tentative|pending"}],
    "my_rsvp": "organizer|accepted|declined|tentative|pending", "status": "confirmed|cancelled", "created_at": "datetime",
}


def _slot(rng: random.Random, day_from: int, day_to: int) -> dt.datetime:
    day = NOW.replace(hour=0, minute=0) + dt.timedelta(days=rng.randrange(day_from, day_to))
    return day + dt.timedelta(hours=rng.randrange(8, 19), minutes=rng.choice((0, 30)))


def seed(b: Any, population: Any, rng: random.Random) -> None:
    people = population.by_id()

    def add(organizer: Any, k: int, title: str, location: str, start: dt.datetime, minutes: int, guests: list[Any]) -> None:
        attendees = [{"email": g.email, "rsvp": rng.choice(RSVPS)} for g in guests]
        status = "cancelled" if rng.random() < 0.06 else "confirmed"
        base = {
            "title": title, "description": "", "location": location, "start": start.isoformat(),
            "end": (start + dt.timedelta(minutes=minutes)).isoformat(), "organizer": organizer.email,
            "attendees": attendees, "status": status,
            "created_at": min(start - dt.timedelta(days=7), NOW - dt.timedelta(days=1)).isoformat(),
        }
        rid = stable_id("event", organizer.id, k)
        b.add("calendar", "events", rid, {"id": rid, "owner_id": organizer.id, **base, "my_rsvp": "organizer"})
        for g, a in zip(guests, attendees):
            cid = stable_id("event", organizer.id, k, g.id)
            b.add("calendar", "events", cid, {"id": cid, "owner_id": g.id, **base, "my_rsvp": a["rsvp"]})

    for person in population.people:
        by_rel: dict[str, list[Any]] = {}
        for o, r in sorted(person.relationships.items()):
            by_rel.setdefault(r, []).append(people[o])
        k = 0
        for _ in range(rng.randrange(6, 11)):
            title, locations, minutes, kind = rng.choice(_KINDS)
            pool = {"work": by_rel.get("coworker", []), "family": by_rel.get("family", []),
                    "social": by_rel.get("friend", []) + by_rel.get("roommate", []), "solo": []}[kind]
            guests = rng.sample(pool, min(len(pool), rng.randrange(1, 4))) if pool else []
            add(person, k, title, rng.choice(locations), _slot(rng, -20, 35), minutes, guests)
            k += 1
        coworkers = by_rel.get("coworker", [])
        if coworkers and rng.random() < 0.6:
            # a weekly series, so that "every <title>" means several events
            guests = rng.sample(coworkers, min(len(coworkers), rng.randrange(1, 4)))
            first = _slot(rng, -14, -7).replace(hour=rng.choice((9, 11, 14)), minute=0)
            title = rng.choice(("Weekly standup", "Weekly planning", "Design review"))
            for w in range(6):
                add(person, k, title, "Room 4B", first + dt.timedelta(days=7 * w), 30, guests)
                k += 1


@overload
def _when(api: str, name: str, value: str) -> str: ...
@overload
def _when(api: str, name: str, value: None) -> None: ...
@overload
def _when(api: str, name: str, value: str | None) -> str | None: ...
def _when(api: str, name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(f"calendar.{api}: parameter '{name}' must be an ISO date or datetime, got {value!r}.") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC).isoformat()


def _event(ctx: CallContext, event_id: str) -> dict[str, Any]:
    return require_owner("calendar", ctx.table("events").get(event_id), "owner_id", ctx.user, "event", event_id)


def _organised(ctx: CallContext, api: str, event_id: str) -> dict[str, Any]:
    row = _event(ctx, event_id)
    if row["my_rsvp"] != "organizer":
        raise ApiError(f"calendar.{api}: only the organizer ({row['organizer']}) can change event {event_id!r}.")
    return row


def _view(row: dict[str, Any]) -> dict[str, Any]:
    out = public(row, "owner_id")
    out["attendees"] = [dict(a) for a in row["attendees"]]
    return out


def _times(api: str, start: str, end: str) -> tuple[str, str]:
    s, e = _when(api, "start", start), _when(api, "end", end)
    if e <= s:
        raise ApiError(f"calendar.{api}: parameter 'end' must be after 'start'.")
    return s, e


@APP.api(
    "show_account",
    "Show your calendar account: email and counts of events you organise and are invited to.",
    response={"email": "string", "organized_count": "integer", "invited_count": "integer"},
)
def show_account(ctx):
    rows = ctx.table("events").rows_of(ctx.user)
    org = sum(r["my_rsvp"] == "organizer" for r in rows)
    return {"email": ctx.person(ctx.user)["email"], "organized_count": org, "invited_count": len(rows) - org}


_SORT = ("start", "end", "title", "created_at")


@APP.api(
    "show_events",
    "List the events in your calendar, earliest first by default. Filters: a time range (events that overlap "
    "[start_after, end_before)), text, location, organizer, attendee, status and your RSVP.",
    [
        Param("start_after", "string", "Only events ending after this ISO date/datetime.", required=False, nullable=True),
        Param("end_before", "string", "Only events starting before this ISO date/datetime.", required=False, nullable=True),
        Param("query", "string", "Case-insensitive text to find in the title or description.", required=False, nullable=True),
        Param("location", "string", "Case-insensitive text to find in the location.", required=False, nullable=True),
        Param("organizer", "string", "Case-insensitive substring of the organizer's email.", required=False, nullable=True),
        Param("attendee", "string", "Case-insensitive substring of an attendee's email.", required=False, nullable=True),
        Param("status", "string", "Only 'confirmed' or 'cancelled' events.", required=False, nullable=True, choices=("confirmed", "cancelled")),
        Param("my_rsvp", "string", "Only events with this answer of yours ('organizer' for your own events).",
              required=False, nullable=True, choices=("organizer", *RSVPS)),
        sort_param(_SORT, "start"),
    ],
    response=[_EVENT],
    errors=("422 a time filter is not an ISO date or datetime",),
    paginated=True,
)
def show_events(ctx, start_after=None, end_before=None, query=None, location=None, organizer=None, attendee=None,
                status=None, my_rsvp=None, sort_by="start", page_index=0, page_limit=5):
    after = _when("show_events", "start_after", start_after)
    before = _when("show_events", "end_before", end_before)
    rows = ctx.table("events").rows_of(ctx.user)
    if after:
        rows = [r for r in rows if r["end"] > after]
    if before:
        rows = [r for r in rows if r["start"] < before]
    if query:
        q = query.lower()
        rows = [r for r in rows if q in r["title"].lower() or q in r["description"].lower()]
    if location:
        q = location.lower()
        rows = [r for r in rows if q in r["location"].lower()]
    if organizer:
        q = organizer.lower()
        rows = [r for r in rows if q in r["organizer"]]
    if attendee:
        q = attendee.lower()
        rows = [r for r in rows if any(q in a["email"] for a in r["attendees"])]
    if status:
        rows = [r for r in rows if r["status"] == status]
    if my_rsvp:
        rows = [r for r in rows if r["my_rsvp"] == my_rsvp]
    rows = sort_rows(rows, sort_by, _SORT)
    return [_view(r) for r in paginate(rows, page_index, page_limit)]


@APP.api(
    "show_day",
    "List the events of one day (those overlapping it, UTC), earliest first.",
    [Param("date", "string", "The day, YYYY-MM-DD.")],
    response=[_EVENT],
    errors=("422 the date is not an ISO date",),
    paginated=True,
)
def show_day(ctx, date, page_index=0, page_limit=5):
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        raise ApiError(f"calendar.show_day: parameter 'date' must be an ISO date (YYYY-MM-DD), got {date!r}.") from None
    lo = dt.datetime.combine(day, dt.time(), dt.UTC).isoformat()
    hi = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC).isoformat()
    rows = sorted((r for r in ctx.table("events").rows_of(ctx.user) if r["end"] > lo and r["start"] < hi), key=lambda r: r["start"])
    return [_view(r) for r in paginate(rows, page_index, page_limit)]


@APP.api(
    "show_invitations",
    "List the upcoming invitations you have not answered yet (my_rsvp 'pending'), earliest first.",
    response=[_EVENT],
    paginated=True,
)
def show_invitations(ctx, page_index=0, page_limit=5):
    rows = sorted((r for r in ctx.table("events").rows_of(ctx.user) if r["my_rsvp"] == "pending" and r["start"] >= NOW_ISO
                   and r["status"] == "confirmed"), key=lambda r: r["start"])
    return [_view(r) for r in paginate(rows, page_index, page_limit)]


@APP.api("show_event", "Show one event.", [Param("event_id", "string", "The event's id.")], response=_EVENT, errors=("404 event not found",))
def show_event(ctx, event_id):
    return _view(_event(ctx, event_id))


@APP.api(
    "create_event",
    "Create an event you organise; attendees are invited by email (their answers start as 'pending').",
    [
        Param("title", "string", "Title.", max_length=200),
        Param("start", "string", "Start, ISO datetime (UTC if no offset)."),
        Param("end", "string", "End, ISO datetime; after the start."),
        Param("location", "string", "Location.", required=False, default="", max_length=200),
        Param("description", "string", "Description.", required=False, default="", max_length=5000),
        Param("attendees", "list[string]", "Email addresses to invite.", required=False, default=None, nullable=True),
    ],
    response={"event_id": "string"},
    errors=("422 times are malformed or end is not after start", "422 an attendee address is invalid"),
    mutates=True, outbound=lambda a: bool(a.get("attendees")),
)
def create_event(ctx, title, start, end, location="", description="", attendees=None):
    if not title.strip():
        raise ApiError("calendar.create_event: parameter 'title' must not be empty.")
    s, e = _times("create_event", start, end)
    guests: list[dict[str, str]] = []
    for a in attendees or []:
        a = a.strip().lower()
        if "@" not in a:
            raise ApiError(f"calendar.create_event: parameter 'attendees' has an invalid email address {a!r}.")
        if a not in [g["email"] for g in guests]:
            guests.append({"email": a, "rsvp": "pending"})
    rid = ctx.new_id("event")
    ctx.table("events").insert(rid, {
        "id": rid, "owner_id": ctx.user, "title": title, "description": description, "location": location,
        "start": s, "end": e, "organizer": ctx.person(ctx.user)["email"], "attendees": guests,
        "status": "confirmed", "created_at": NOW_ISO, "my_rsvp": "organizer",
    })
    return {"event_id": rid}


@APP.api(
    "update_event",
    "Change the title, location or description of an event you organise; omitted fields stay as they are.",
    [
        Param("event_id", "string", "The event's id."),
        Param("title", "string", "New title.", required=False, nullable=True, max_length=200),
        Param("location", "string", "New location.", required=False, nullable=True, max_length=200),
        Param("description", "string", "New description.", required=False, nullable=True, max_length=5000),
    ],
    response=_EVENT,
    errors=("404 event not found", "403 only the organizer can change the event"),
    mutates=True,
)
def update_event(ctx, event_id, title=None, location=None, description=None):
    row = _organised(ctx, "update_event", event_id)
    fields = {k: v for k, v in (("title", title), ("location", location), ("description", description)) if v is not None}
    if "title" in fields and not fields["title"].strip():
        raise ApiError("calendar.update_event: parameter 'title' must not be empty.")
    if fields:
        row = ctx.table("events").update(event_id, **fields)
    return _view(row)


@APP.api(
    "reschedule_event",
    "Move an event you organise to a new start and end time.",
    [Param("event_id", "string", "The event's id."), Param("start", "string", "New start, ISO datetime."),
     Param("end", "string", "New end, ISO datetime; after the start.")],
    response=_EVENT,
    errors=("404 event not found", "403 only the organizer can change the event", "409 the event is cancelled"),
    mutates=True,
)
def reschedule_event(ctx, event_id, start, end):
    row = _organised(ctx, "reschedule_event", event_id)
    if row["status"] == "cancelled":
        raise ApiError(f"calendar.reschedule_event: event {event_id!r} is cancelled.")
    s, e = _times("reschedule_event", start, end)
    return _view(ctx.table("events").update(event_id, start=s, end=e))


@APP.api(
    "cancel_event",
    "Cancel an event you organise (it stays in your calendar with status 'cancelled').",
    [Param("event_id", "string", "The event's id.")],
    response={"message": "string"},
    errors=("404 event not found", "403 only the organizer can change the event", "409 already cancelled"),
    mutates=True, destructive=True,
)
def cancel_event(ctx, event_id):
    row = _organised(ctx, "cancel_event", event_id)
    if row["status"] == "cancelled":
        raise ApiError(f"calendar.cancel_event: event {event_id!r} is already cancelled.")
    ctx.table("events").update(event_id, status="cancelled")
    return {"message": "Event cancelled."}


@APP.api(
    "delete_event",
    "Remove an event from your calendar entirely.",
    [Param("event_id", "string", "The event's id.")],
    response={"message": "string"},
    errors=("404 event not found",),
    mutates=True, destructive=True,
)
def delete_event(ctx, event_id):
    _event(ctx, event_id)
    ctx.table("events").delete(event_id)
    return {"message": "Event deleted."}


@APP.api(
    "rsvp_event",
    "Answer an invitation: accepted, declined or tentative.",
    [Param("event_id", "string", "The event's id."),
     Param("response", "string", "Your answer.", choices=("accepted", "declined", "tentative"))],
    response={"message": "string"},
    errors=("404 event not found", "409 you organise this event"),
    mutates=True,
)
def rsvp_event(ctx, event_id, response):
    row = _event(ctx, event_id)
    if row["my_rsvp"] == "organizer":
        raise ApiError(f"calendar.rsvp_event: you organise event {event_id!r}; organizers do not RSVP.")
    if row["my_rsvp"] != response:
        me = ctx.person(ctx.user)["email"]
        attendees = [{**a, "rsvp": response} if a["email"] == me else a for a in row["attendees"]]
        ctx.table("events").update(event_id, my_rsvp=response, attendees=attendees)
    return {"message": f"RSVP set to {response}."}


@APP.api(
    "add_attendee",
    "Invite someone to an event you organise (no effect if already invited).",
    [Param("event_id", "string", "The event's id."), Param("email", "string", "The person's email address.")],
    response={"attendees": [{"email": "string", "rsvp": "string"}]},
    errors=("404 event not found", "403 only the organizer can change the event"),
    mutates=True, destructive=True, outbound=True,
)
def add_attendee(ctx, event_id, email):
    row = _organised(ctx, "add_attendee", event_id)
    email = email.strip().lower()
    if "@" not in email:
        raise ApiError(f"calendar.add_attendee: parameter 'email' is not an email address: {email!r}.")
    if any(a["email"] == email for a in row["attendees"]):
        return {"attendees": [dict(a) for a in row["attendees"]]}
    new = ctx.table("events").update(event_id, attendees=[*row["attendees"], {"email": email, "rsvp": "pending"}])
    return {"attendees": [dict(a) for a in new["attendees"]]}


@APP.api(
    "remove_attendee",
    "Uninvite someone from an event you organise.",
    [Param("event_id", "string", "The event's id."), Param("email", "string", "The person's email address.")],
    response={"attendees": [{"email": "string", "rsvp": "string"}]},
    errors=("404 event not found", "403 only the organizer can change the event", "404 not an attendee"),
    mutates=True, destructive=True,
)
def remove_attendee(ctx, event_id, email):
    row = _organised(ctx, "remove_attendee", event_id)
    email = email.strip().lower()
    if not any(a["email"] == email for a in row["attendees"]):
        raise ApiError(f"calendar.remove_attendee: {email!r} is not an attendee of event {event_id!r}.")
    new = ctx.table("events").update(event_id, attendees=[a for a in row["attendees"] if a["email"] != email])
    return {"attendees": [dict(a) for a in new["attendees"]]}


@APP.api(
    "show_free_slots",
    "List the free gaps of at least `minutes` on one day (UTC) between day_start_hour and day_end_hour, "
    "ignoring cancelled events and invitations you declined.",
    [
        Param("date", "string", "The day, YYYY-MM-DD."),
        Param("minutes", "integer", "Shortest gap to report.", required=False, default=30, minimum=5, maximum=720),
        Param("day_start_hour", "integer", "Hour the day starts.", required=False, default=8, minimum=0, maximum=23),
        Param("day_end_hour", "integer", "Hour the day ends.", required=False, default=18, minimum=1, maximum=24),
    ],
    response=[{"start": "datetime", "end": "datetime", "minutes": "integer"}],
    errors=("422 the date is not an ISO date or the hours are out of order",),
)
def show_free_slots(ctx, date, minutes=30, day_start_hour=8, day_end_hour=18):
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        raise ApiError(f"calendar.show_free_slots: parameter 'date' must be an ISO date (YYYY-MM-DD), got {date!r}.") from None
    if day_end_hour <= day_start_hour:
        raise ApiError("calendar.show_free_slots: parameter 'day_end_hour' must be after 'day_start_hour'.")
    midnight = dt.datetime.combine(day, dt.time(), dt.UTC)
    cursor, stop = midnight + dt.timedelta(hours=day_start_hour), midnight + dt.timedelta(hours=day_end_hour)
    busy = sorted(
        (dt.datetime.fromisoformat(r["start"]), dt.datetime.fromisoformat(r["end"]))
        for r in ctx.table("events").rows_of(ctx.user)
        if r["status"] == "confirmed" and r["my_rsvp"] != "declined"
        and r["end"] > cursor.isoformat() and r["start"] < stop.isoformat()
    )
    out = []
    for s, e in [*busy, (stop, stop)]:
        if (min(s, stop) - cursor).total_seconds() >= minutes * 60:
            out.append({"start": cursor.isoformat(), "end": min(s, stop).isoformat(), "minutes": int((min(s, stop) - cursor).total_seconds() // 60)})
        cursor = max(cursor, e)
    return out
