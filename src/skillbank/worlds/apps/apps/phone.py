"""`phone`: contacts with relationship labels, text messages and the call log.

A text message exists once per phone it is on: sending one stores the sender's copy
(direction "sent") and, when the number belongs to someone in the world, the recipient's
copy (direction "received", unread). Deleting a message deletes only your own copy.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

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

APP = AppDef(
    "phone",
    "Your phone: contacts (with relationship labels), text messages and the call log.",
    username_field="phone",
)
TABLES = {"contacts": "owner_id", "messages": "owner_id", "calls": "owner_id"}

RELATIONSHIPS = ("family", "friend", "coworker", "roommate", "other")
CALL_KINDS = ("incoming", "outgoing", "missed")

_TEXTS = (
    "Are we still on for dinner tonight?",
    "Running ten minutes late, sorry!",
    "Did you see the game last night?",
    "Can you pick up milk on the way home?",
    "Happy birthday! Hope it's a great one.",
    "Thanks for lending me the ladder.",
    "Call me when you get a chance.",
    "The package arrived this morning.",
    "Lunch on Thursday?",
    "I left the keys under the mat.",
    "Great meeting today, talk soon.",
    "Can you send me the photos from the trip?",
    "Don't forget the rent is due Friday.",
    "Movie starts at 8, meet at the entrance.",
    "Just landed, heading to the hotel.",
    "Could you water the plants this weekend?",
    "Check your email, I sent the draft.",
    "Good luck with the interview!",
    "The bakery on 5th has the best croissants.",
    "Let's push our call to tomorrow.",
)

_CONTACT = {
    "id": "string", "first_name": "string", "last_name": "string", "phone": "string", "email": "string|null",
    "relationship": "string", "favorite": "boolean", "created_at": "datetime",
}
_MESSAGE = {
    "id": "string", "direction": "sent|received", "sender_phone": "string", "recipient_phone": "string",
    "content": "string", "sent_at": "datetime", "read": "boolean",
}
_CALL = {"id": "string", "direction": "incoming|outgoing|missed", "phone": "string", "started_at": "datetime", "duration_seconds": "integer"}


def _iso(t: dt.datetime) -> str:
    return t.replace(second=0, microsecond=0).isoformat()


def seed(b: Any, population: Any, rng: random.Random) -> None:
    people = population.by_id()
    for person in population.people:
        for other_id, relation in sorted(person.relationships.items()):
            other = people[other_id]
            rid = stable_id("contact", person.id, other_id)
            created = NOW - dt.timedelta(days=rng.randrange(30, 900))
            b.add("phone", "contacts", rid, {
                "id": rid, "owner_id": person.id, "first_name": other.first_name, "last_name": other.last_name,
                "phone": other.phone, "email": other.email if rng.random() < 0.9 else None,
                "relationship": relation, "favorite": rng.random() < 0.15, "created_at": _iso(created),
            })
    # conversations: one per related pair with probability 1/2, both copies stored
    for person in population.people:
        for other_id in sorted(person.relationships):
            if other_id < person.id or rng.random() < 0.5:
                continue
            other = people[other_id]
            start = NOW - dt.timedelta(days=rng.randrange(1, 120), minutes=rng.randrange(0, 1440))
            for k in range(rng.randrange(2, 7)):
                sender, recipient = (person, other) if rng.random() < 0.5 else (other, person)
                sent = start + dt.timedelta(minutes=37 * k + rng.randrange(0, 30))
                if sent >= NOW:
                    sent = NOW - dt.timedelta(minutes=5 * (7 - k))
                content = rng.choice(_TEXTS)
                recent = sent > NOW - dt.timedelta(days=30)
                for owner, direction in ((sender, "sent"), (recipient, "received")):
                    rid = stable_id("msg", person.id, other_id, k, owner.id)
                    b.add("phone", "messages", rid, {
                        "id": rid, "owner_id": owner.id, "direction": direction,
                        "sender_phone": sender.phone, "recipient_phone": recipient.phone,
                        "content": content, "sent_at": _iso(sent),
                        "read": direction == "sent" or not recent or rng.random() < 0.4,
                    })
    for person in population.people:
        related = sorted(person.relationships)
        for k in range(rng.randrange(12, 30)):
            if related and rng.random() < 0.85:
                number = people[rng.choice(related)].phone
            else:
                number = f"+1800{rng.randrange(1000000, 9999999)}"
            direction = rng.choice(CALL_KINDS)
            started = NOW - dt.timedelta(days=rng.randrange(0, 45), minutes=rng.randrange(1, 1440))
            rid = stable_id("call", person.id, k)
            b.add("phone", "calls", rid, {
                "id": rid, "owner_id": person.id, "direction": direction, "phone": number,
                "started_at": _iso(started), "duration_seconds": 0 if direction == "missed" else rng.randrange(20, 2400),
            })


def _when(api: str, name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(f"phone.{api}: parameter '{name}' must be an ISO date or datetime, got {value!r}.") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC).isoformat()


def _check_phone(api: str, name: str, number: str) -> str:
    digits = number.removeprefix("+")
    if not digits.isdigit() or not 7 <= len(digits) <= 15:
        raise ApiError(f"phone.{api}: parameter '{name}' must be a phone number like +15551234567, got {number!r}.")
    return number


def _contact(ctx: CallContext, contact_id: str) -> dict[str, Any]:
    return require_owner("phone", ctx.table("contacts").get(contact_id), "owner_id", ctx.user, "contact", contact_id)


def _message(ctx: CallContext, message_id: str) -> dict[str, Any]:
    return require_owner("phone", ctx.table("messages").get(message_id), "owner_id", ctx.user, "text message", message_id)


def _call(ctx: CallContext, call_id: str) -> dict[str, Any]:
    return require_owner("phone", ctx.table("calls").get(call_id), "owner_id", ctx.user, "call record", call_id)


def _my_phone(ctx: CallContext) -> str:
    return ctx.person(ctx.user)["phone"]


@APP.api(
    "show_account",
    "Show your phone account: name, phone number and how many contacts, messages and calls you have.",
    response={"name": "string", "phone": "string", "contact_count": "integer", "message_count": "integer", "call_count": "integer"},
)
def show_account(ctx):
    me = ctx.person(ctx.user)
    return {
        "name": me["full_name"], "phone": me["phone"],
        "contact_count": len(ctx.table("contacts").rows_of(ctx.user)),
        "message_count": len(ctx.table("messages").rows_of(ctx.user)),
        "call_count": len(ctx.table("calls").rows_of(ctx.user)),
    }


_CONTACT_SORT = ("first_name", "last_name", "created_at")


@APP.api(
    "search_contacts",
    "List your contacts, optionally filtered by a text query (name, phone or email), relationship or favourite state.",
    [
        Param("query", "string", "Case-insensitive text to find in the full name, phone number or email.", required=False, nullable=True),
        Param("relationship", "string", "Only contacts with this relationship label.", required=False, nullable=True, choices=RELATIONSHIPS),
        Param("favorite", "boolean", "Only favourites (true) or non-favourites (false).", required=False, nullable=True),
        sort_param(_CONTACT_SORT, "first_name"),
    ],
    response=[_CONTACT],
    paginated=True,
)
def search_contacts(ctx, query=None, relationship=None, favorite=None, sort_by="first_name", page_index=0, page_limit=5):
    rows = ctx.table("contacts").rows_of(ctx.user)
    if query:
        q = query.lower()
        rows = [r for r in rows if q in f"{r['first_name']} {r['last_name']}".lower() or q in r["phone"] or q in (r["email"] or "").lower()]
    if relationship:
        rows = [r for r in rows if r["relationship"] == relationship]
    if favorite is not None:
        rows = [r for r in rows if r["favorite"] == favorite]
    rows = sort_rows(rows, sort_by, _CONTACT_SORT)
    return [public(r, "owner_id") for r in paginate(rows, page_index, page_limit)]


@APP.api("show_contact", "Show one contact.", [Param("contact_id", "string", "The contact's id.")], response=_CONTACT, errors=("404 contact not found",))
def show_contact(ctx, contact_id):
    return public(_contact(ctx, contact_id), "owner_id")


@APP.api(
    "add_contact",
    "Add a contact. The phone number must not already belong to one of your contacts.",
    [
        Param("first_name", "string", "First name.", max_length=80),
        Param("last_name", "string", "Last name.", required=False, default="", max_length=80),
        Param("phone_number", "string", "Phone number, e.g. +15551234567."),
        Param("email", "string", "Email address.", required=False, nullable=True, max_length=200),
        Param("relationship", "string", "Relationship label.", required=False, default="other", choices=RELATIONSHIPS),
        Param("favorite", "boolean", "Mark as favourite.", required=False, default=False),
    ],
    response={"contact_id": "string"},
    errors=("409 a contact with this phone number already exists",),
    mutates=True,
)
def add_contact(ctx, first_name, phone_number, last_name="", email=None, relationship="other", favorite=False):
    if not first_name.strip():
        raise ApiError("phone.add_contact: parameter 'first_name' must not be empty.")
    _check_phone("add_contact", "phone_number", phone_number)
    if any(r["phone"] == phone_number for r in ctx.table("contacts").rows_of(ctx.user)):
        raise ApiError(f"phone.add_contact: a contact with phone number {phone_number!r} already exists.")
    rid = ctx.new_id("contact")
    ctx.table("contacts").insert(rid, {
        "id": rid, "owner_id": ctx.user, "first_name": first_name, "last_name": last_name, "phone": phone_number,
        "email": email, "relationship": relationship, "favorite": favorite, "created_at": NOW_ISO,
    })
    return {"contact_id": rid}


@APP.api(
    "update_contact",
    "Change a contact's name, phone number, email or relationship label; omitted fields stay as they are.",
    [
        Param("contact_id", "string", "The contact's id."),
        Param("first_name", "string", "New first name.", required=False, nullable=True, max_length=80),
        Param("last_name", "string", "New last name.", required=False, nullable=True, max_length=80),
        Param("phone_number", "string", "New phone number.", required=False, nullable=True),
        Param("email", "string", "New email address.", required=False, nullable=True, max_length=200),
        Param("relationship", "string", "New relationship label.", required=False, nullable=True, choices=RELATIONSHIPS),
    ],
    response=_CONTACT,
    errors=("404 contact not found", "409 another contact has this phone number"),
    mutates=True,
)
def update_contact(ctx, contact_id, first_name=None, last_name=None, phone_number=None, email=None, relationship=None):
    _contact(ctx, contact_id)
    fields: dict[str, Any] = {}
    if first_name is not None:
        if not first_name.strip():
            raise ApiError("phone.update_contact: parameter 'first_name' must not be empty.")
        fields["first_name"] = first_name
    if last_name is not None:
        fields["last_name"] = last_name
    if phone_number is not None:
        _check_phone("update_contact", "phone_number", phone_number)
        if any(r["phone"] == phone_number and r["id"] != contact_id for r in ctx.table("contacts").rows_of(ctx.user)):
            raise ApiError(f"phone.update_contact: another contact already has phone number {phone_number!r}.")
        fields["phone"] = phone_number
    if email is not None:
        fields["email"] = email
    if relationship is not None:
        fields["relationship"] = relationship
    row = ctx.table("contacts").update(contact_id, **fields) if fields else _contact(ctx, contact_id)
    return public(row, "owner_id")


@APP.api(
    "set_contact_favorite",
    "Mark a contact as a favourite, or unmark it.",
    [Param("contact_id", "string", "The contact's id."), Param("favorite", "boolean", "True to mark, false to unmark.", required=False, default=True)],
    response={"message": "string"},
    errors=("404 contact not found",),
    mutates=True,
)
def set_contact_favorite(ctx, contact_id, favorite=True):
    row = _contact(ctx, contact_id)
    if row["favorite"] != favorite:
        ctx.table("contacts").update(contact_id, favorite=favorite)
    return {"message": "Contact marked as favourite." if favorite else "Contact unmarked as favourite."}


@APP.api(
    "delete_contact",
    "Delete a contact (messages and calls with the number are kept).",
    [Param("contact_id", "string", "The contact's id.")],
    response={"message": "string"},
    errors=("404 contact not found",),
    mutates=True, destructive=True,
)
def delete_contact(ctx, contact_id):
    _contact(ctx, contact_id)
    ctx.table("contacts").delete(contact_id)
    return {"message": "Contact deleted."}


@APP.api(
    "show_conversations",
    "List your text conversations, one per other phone number, most recent first, with the last message and the unread count.",
    response=[{"phone": "string", "last_message": "string", "last_sent_at": "datetime", "message_count": "integer", "unread_count": "integer"}],
    paginated=True,
)
def show_conversations(ctx, page_index=0, page_limit=5):
    convs: dict[str, dict[str, Any]] = {}
    for r in ctx.table("messages").rows_of(ctx.user):
        other = r["recipient_phone"] if r["direction"] == "sent" else r["sender_phone"]
        c = convs.get(other)
        if c is None:
            c = convs[other] = {"phone": other, "last_message": r["content"], "last_sent_at": r["sent_at"], "message_count": 0, "unread_count": 0}
        c["message_count"] += 1
        c["unread_count"] += not r["read"]
        if r["sent_at"] > c["last_sent_at"]:
            c["last_message"], c["last_sent_at"] = r["content"], r["sent_at"]
    rows = sorted(convs.values(), key=lambda c: c["last_sent_at"], reverse=True)
    return paginate(rows, page_index, page_limit)


@APP.api(
    "search_text_messages",
    "List your text messages, newest first by default, optionally filtered by the other party's phone number, "
    "a text query, direction, unread state and a sent-time range.",
    [
        Param("phone_number", "string", "Only messages exchanged with this phone number.", required=False, nullable=True),
        Param("query", "string", "Case-insensitive text to find in the content.", required=False, nullable=True),
        Param("direction", "string", "Only 'sent' or 'received' messages.", required=False, nullable=True, choices=("sent", "received")),
        Param("unread", "boolean", "Only unread (true) or read (false) messages.", required=False, nullable=True),
        Param("sent_after", "string", "Only messages sent at or after this ISO date/datetime.", required=False, nullable=True),
        Param("sent_before", "string", "Only messages sent before this ISO date/datetime.", required=False, nullable=True),
        sort_param(("sent_at",), "-sent_at"),
    ],
    response=[_MESSAGE],
    errors=("422 a time filter is not an ISO date or datetime",),
    paginated=True,
)
def search_text_messages(ctx, phone_number=None, query=None, direction=None, unread=None, sent_after=None, sent_before=None,
                         sort_by="-sent_at", page_index=0, page_limit=5):
    after = _when("search_text_messages", "sent_after", sent_after)
    before = _when("search_text_messages", "sent_before", sent_before)
    rows = ctx.table("messages").rows_of(ctx.user)
    if phone_number:
        rows = [r for r in rows if phone_number in (r["sender_phone"], r["recipient_phone"])]
    if query:
        q = query.lower()
        rows = [r for r in rows if q in r["content"].lower()]
    if direction:
        rows = [r for r in rows if r["direction"] == direction]
    if unread is not None:
        rows = [r for r in rows if r["read"] != unread]
    if after:
        rows = [r for r in rows if r["sent_at"] >= after]
    if before:
        rows = [r for r in rows if r["sent_at"] < before]
    rows = sort_rows(rows, sort_by, ("sent_at",))
    return [public(r, "owner_id") for r in paginate(rows, page_index, page_limit)]


@APP.api("show_text_message", "Show one of your text messages.", [Param("message_id", "string", "The message's id.")],
         response=_MESSAGE, errors=("404 text message not found",))
def show_text_message(ctx, message_id):
    return public(_message(ctx, message_id), "owner_id")


@APP.api(
    "send_text_message",
    "Send a text message to a phone number. The recipient gets their own (unread) copy.",
    [Param("phone_number", "string", "The recipient's phone number, e.g. +15551234567."),
     Param("content", "string", "The message text.", max_length=1000)],
    response={"message_id": "string"},
    errors=("422 the phone number is malformed or your own", "422 the content is empty"),
    mutates=True, destructive=True, outbound=True,
)
def send_text_message(ctx, phone_number, content):
    _check_phone("send_text_message", "phone_number", phone_number)
    mine = _my_phone(ctx)
    if phone_number == mine:
        raise ApiError("phone.send_text_message: parameter 'phone_number' is your own number.")
    if not content.strip():
        raise ApiError("phone.send_text_message: parameter 'content' must not be empty.")
    table = ctx.table("messages")
    rid = ctx.new_id("msg")
    row = {"id": rid, "owner_id": ctx.user, "direction": "sent", "sender_phone": mine, "recipient_phone": phone_number,
           "content": content, "sent_at": NOW_ISO, "read": True}
    table.insert(rid, row)
    other = ctx.person_by_phone(phone_number)
    if other is not None:
        cid = ctx.new_id("msg")
        table.insert(cid, {**row, "id": cid, "owner_id": other["id"], "direction": "received", "read": False})
    return {"message_id": rid}


@APP.api(
    "mark_text_message_read",
    "Mark one of your text messages as read (or unread with read=false).",
    [Param("message_id", "string", "The message's id."), Param("read", "boolean", "True for read, false for unread.", required=False, default=True)],
    response={"message": "string"},
    errors=("404 text message not found",),
    mutates=True,
)
def mark_text_message_read(ctx, message_id, read=True):
    row = _message(ctx, message_id)
    if row["read"] != read:
        ctx.table("messages").update(message_id, read=read)
    return {"message": "Marked as read." if read else "Marked as unread."}


@APP.api(
    "delete_text_message",
    "Delete your copy of a text message (the other party keeps theirs).",
    [Param("message_id", "string", "The message's id.")],
    response={"message": "string"},
    errors=("404 text message not found",),
    mutates=True, destructive=True,
)
def delete_text_message(ctx, message_id):
    _message(ctx, message_id)
    ctx.table("messages").delete(message_id)
    return {"message": "Text message deleted."}


@APP.api(
    "show_call_log",
    "List your calls, newest first by default, optionally filtered by phone number, direction "
    "('incoming', 'outgoing', 'missed') and a start-time range.",
    [
        Param("phone_number", "string", "Only calls with this phone number.", required=False, nullable=True),
        Param("direction", "string", "Only calls of this kind.", required=False, nullable=True, choices=CALL_KINDS),
        Param("started_after", "string", "Only calls started at or after this ISO date/datetime.", required=False, nullable=True),
        Param("started_before", "string", "Only calls started before this ISO date/datetime.", required=False, nullable=True),
        sort_param(("started_at", "duration_seconds"), "-started_at"),
    ],
    response=[_CALL],
    errors=("422 a time filter is not an ISO date or datetime",),
    paginated=True,
)
def show_call_log(ctx, phone_number=None, direction=None, started_after=None, started_before=None, sort_by="-started_at",
                  page_index=0, page_limit=5):
    after = _when("show_call_log", "started_after", started_after)
    before = _when("show_call_log", "started_before", started_before)
    rows = ctx.table("calls").rows_of(ctx.user)
    if phone_number:
        rows = [r for r in rows if r["phone"] == phone_number]
    if direction:
        rows = [r for r in rows if r["direction"] == direction]
    if after:
        rows = [r for r in rows if r["started_at"] >= after]
    if before:
        rows = [r for r in rows if r["started_at"] < before]
    rows = sort_rows(rows, sort_by, ("started_at", "duration_seconds"))
    return [public(r, "owner_id") for r in paginate(rows, page_index, page_limit)]


@APP.api("show_call", "Show one call record.", [Param("call_id", "string", "The call record's id.")], response=_CALL,
         errors=("404 call record not found",))
def show_call(ctx, call_id):
    return public(_call(ctx, call_id), "owner_id")


@APP.api(
    "delete_call_record",
    "Delete one record from your call log.",
    [Param("call_id", "string", "The call record's id.")],
    response={"message": "string"},
    errors=("404 call record not found",),
    mutates=True, destructive=True,
)
def delete_call_record(ctx, call_id):
    _call(ctx, call_id)
    ctx.table("calls").delete(call_id)
    return {"message": "Call record deleted."}
