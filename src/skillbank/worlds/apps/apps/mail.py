"""`mail`: email with folders (inbox, sent, archive, trash), labels and attachments.

Every mailbox holds its own copy of an email: sending stores the sender's copy in
"sent" and one unread copy in the inbox of each recipient who lives in the world.
Attachments are metadata only (file name and size).
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

APP = AppDef("mail", "Email: read, search, send, reply, forward, label, archive and delete emails; attachments are listed by name.")
TABLES = {"emails": "owner_id"}

FOLDERS = ("inbox", "sent", "archive", "trash")

_SUBJECTS = (
    ("Quarterly report draft", "Here is the draft of the quarterly report; comments welcome.", ("report_q2.pdf", "figures.xlsx")),
    ("Weekend hiking trip", "Thinking of the coastal trail on Saturday. Who is in?", ("trail_map.pdf",)),
    ("Invoice for April", "Please find the April invoice attached.", ("invoice_april.pdf",)),
    ("Photos from the party", "Sharing the photos from Saturday night!", ("party_01.jpg", "party_02.jpg", "party_03.jpg")),
    ("Dinner recipes", "The recipes I promised: lentil soup and flatbread.", ("lentil_soup.docx",)),
    ("Project kickoff", "Kickoff is next Tuesday; agenda attached.", ("agenda.docx", "timeline.pdf")),
    ("Flat inspection", "The landlord will inspect the flat next week.", ()),
    ("Book club pick", "Next month we read Piranesi. Thoughts?", ()),
    ("Budget spreadsheet", "Updated household budget, have a look.", ("budget_2026.xlsx",)),
    ("Conference slides", "Slides from my talk, as promised.", ("talk_slides.pdf", "speaker_notes.txt")),
    ("Lunch next week?", "Free for lunch on Wednesday or Thursday?", ()),
    ("Contract renewal", "The renewal contract needs your signature.", ("contract_2026.pdf",)),
    ("Family reunion", "Dates and the venue for the reunion are settled.", ("venue_directions.pdf",)),
    ("Bike repair", "The bike shop quoted for the repair; details inside.", ("quote_bike.pdf",)),
    ("Travel itinerary", "Flights and hotel for the trip.", ("itinerary.pdf", "boarding_pass.pdf")),
    ("Happy birthday!", "Wishing you a wonderful birthday!", ("card.png",)),
)
_NEWSLETTERS = (
    ("deals@shopwise.example", "ShopWise weekly deals", "This week's deals on kitchen gear and more."),
    ("news@citybikes.example", "CityBikes service update", "New stations open in your area."),
    ("digest@readmore.example", "Your reading digest", "Five long reads picked for you."),
    ("alerts@bankly.example", "Your monthly statement is ready", "Log in to view your statement."),
)
_LABELS = ("work", "family", "travel", "finance", "important")

_EMAIL = {
    "id": "string", "thread_id": "string", "folder": "inbox|sent|archive|trash", "sender": "string",
    "recipients": "list[string]", "cc": "list[string]", "subject": "string", "body": "string", "sent_at": "datetime",
    "read": "boolean", "labels": "list[string]", "attachments": [{"file_name": "string", "size_bytes": "integer"}],
}
_EMAIL_SUMMARY = {k: v for k, v in _EMAIL.items() if k != "body"}


def _iso(t: dt.datetime) -> str:
    return t.replace(second=0, microsecond=0).isoformat()


def seed(b: Any, population: Any, rng: random.Random) -> None:
    people = population.by_id()
    for person in population.people:
        related = sorted(person.relationships)
        if not related:
            continue
        favourites = rng.sample(related, min(3, len(related)))
        for k in range(rng.randrange(8, 15)):
            to = [people[rng.choice(favourites if rng.random() < 0.6 else related)]]
            if rng.random() < 0.2:
                extra = people[rng.choice(related)]
                if extra not in to:
                    to.append(extra)
            subject, body, files = rng.choice(_SUBJECTS)
            attachments = [{"file_name": f, "size_bytes": rng.randrange(2_000, 900_000)} for f in files if rng.random() < 0.8]
            sent = NOW - dt.timedelta(days=rng.randrange(0, 90), minutes=rng.randrange(1, 1440))
            thread = stable_id("thread", person.id, k)
            base = {
                "thread_id": thread, "sender": person.email, "recipients": [p.email for p in to], "cc": [],
                "subject": subject, "body": f"Hi {to[0].first_name},\n\n{body}\n\n{person.first_name}",
                "sent_at": _iso(sent), "attachments": attachments,
            }
            rid = stable_id("email", person.id, k, person.id)
            folder = "sent" if rng.random() < 0.95 else "trash"
            b.add("mail", "emails", rid, {"id": rid, "owner_id": person.id, **base, "folder": folder, "read": True, "labels": []})
            for p in to:
                cid = stable_id("email", person.id, k, p.id)
                roll = rng.random()
                folder = "inbox" if roll < 0.7 else ("archive" if roll < 0.92 else "trash")
                labels = [rng.choice(_LABELS)] if rng.random() < 0.25 else []
                b.add("mail", "emails", cid, {
                    "id": cid, "owner_id": p.id, **base, "folder": folder,
                    "read": folder != "inbox" or rng.random() < 0.55, "labels": labels,
                })
        for k in range(rng.randrange(2, 6)):
            sender, subject, body = rng.choice(_NEWSLETTERS)
            rid = stable_id("email", "news", person.id, k)
            sent = NOW - dt.timedelta(days=rng.randrange(0, 60), minutes=rng.randrange(1, 1440))
            b.add("mail", "emails", rid, {
                "id": rid, "owner_id": person.id, "thread_id": stable_id("thread", "news", person.id, k),
                "sender": sender, "recipients": [person.email], "cc": [], "subject": subject, "body": body,
                "sent_at": _iso(sent), "attachments": [], "folder": "inbox", "read": rng.random() < 0.3, "labels": [],
            })


def _when(api: str, name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(f"mail.{api}: parameter '{name}' must be an ISO date or datetime, got {value!r}.") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC).isoformat()


def _email(ctx: CallContext, email_id: str) -> dict[str, Any]:
    return require_owner("mail", ctx.table("emails").get(email_id), "owner_id", ctx.user, "email", email_id)


def _addresses(api: str, name: str, values: list[str], *, allow_empty: bool = False) -> list[str]:
    if not values and not allow_empty:
        raise ApiError(f"mail.{api}: parameter '{name}' must name at least one address.")
    out = []
    for v in values:
        v = v.strip().lower()
        if "@" not in v or v.startswith("@") or v.endswith("@"):
            raise ApiError(f"mail.{api}: parameter '{name}' has an invalid email address {v!r}.")
        if v not in out:
            out.append(v)
    return out


def _deliver(ctx: CallContext, fields: dict[str, Any]) -> str:
    """Store the sender's copy in 'sent' and an unread inbox copy for each known recipient."""
    me = ctx.person(ctx.user)["email"]
    table = ctx.table("emails")
    rid = ctx.new_id("email")
    row = {"id": rid, "owner_id": ctx.user, "sender": me, "sent_at": NOW_ISO, "labels": [], **fields}
    table.insert(rid, {**row, "folder": "sent", "read": True})
    seen = set()
    for addr in [*fields["recipients"], *fields["cc"]]:
        person = ctx.person_by_email(addr)
        if person is None or person["id"] in seen or person["id"] == ctx.user:
            continue
        seen.add(person["id"])
        cid = ctx.new_id("email")
        table.insert(cid, {**row, "id": cid, "owner_id": person["id"], "folder": "inbox", "read": False})
    return rid


@APP.api(
    "show_account",
    "Show your mail account: email address and per-folder counts.",
    response={"email": "string", "folders": {"inbox": "integer", "sent": "integer", "archive": "integer", "trash": "integer"}},
)
def show_account(ctx):
    counts = dict.fromkeys(FOLDERS, 0)
    for r in ctx.table("emails").rows_of(ctx.user):
        counts[r["folder"]] += 1
    return {"email": ctx.person(ctx.user)["email"], "folders": counts}


@APP.api(
    "show_folders",
    "List the folders with their total and unread counts.",
    response=[{"folder": "string", "total": "integer", "unread": "integer"}],
)
def show_folders(ctx):
    counts = {f: [0, 0] for f in FOLDERS}
    for r in ctx.table("emails").rows_of(ctx.user):
        counts[r["folder"]][0] += 1
        counts[r["folder"]][1] += not r["read"]
    return [{"folder": f, "total": t, "unread": u} for f, (t, u) in counts.items()]


_SORT = ("sent_at", "subject", "sender")


@APP.api(
    "show_emails",
    "List emails (without bodies), newest first by default. Filters: folder, sender or recipient address "
    "(substring), subject text, any-text query, label, unread state, attachments and a sent-time range.",
    [
        Param("folder", "string", "Only this folder; all folders when omitted.", required=False, nullable=True, choices=FOLDERS),
        Param("sender", "string", "Case-insensitive substring of the sender's address.", required=False, nullable=True),
        Param("recipient", "string", "Case-insensitive substring of a recipient's (to or cc) address.", required=False, nullable=True),
        Param("subject", "string", "Case-insensitive text to find in the subject.", required=False, nullable=True),
        Param("query", "string", "Case-insensitive text to find in the subject, body or attachment names.", required=False, nullable=True),
        Param("label", "string", "Only emails with this label.", required=False, nullable=True),
        Param("unread", "boolean", "Only unread (true) or read (false) emails.", required=False, nullable=True),
        Param("has_attachments", "boolean", "Only emails with (true) or without (false) attachments.", required=False, nullable=True),
        Param("sent_after", "string", "Only emails sent at or after this ISO date/datetime.", required=False, nullable=True),
        Param("sent_before", "string", "Only emails sent before this ISO date/datetime.", required=False, nullable=True),
        sort_param(_SORT, "-sent_at"),
    ],
    response=[_EMAIL_SUMMARY],
    errors=("422 a time filter is not an ISO date or datetime",),
    paginated=True,
)
def show_emails(ctx, folder=None, sender=None, recipient=None, subject=None, query=None, label=None, unread=None,
                has_attachments=None, sent_after=None, sent_before=None, sort_by="-sent_at", page_index=0, page_limit=5):
    after = _when("show_emails", "sent_after", sent_after)
    before = _when("show_emails", "sent_before", sent_before)
    rows = ctx.table("emails").rows_of(ctx.user)
    if folder:
        rows = [r for r in rows if r["folder"] == folder]
    if sender:
        s = sender.lower()
        rows = [r for r in rows if s in r["sender"]]
    if recipient:
        s = recipient.lower()
        rows = [r for r in rows if any(s in a for a in (*r["recipients"], *r["cc"]))]
    if subject:
        s = subject.lower()
        rows = [r for r in rows if s in r["subject"].lower()]
    if query:
        q = query.lower()
        rows = [r for r in rows if q in r["subject"].lower() or q in r["body"].lower()
                or any(q in a["file_name"].lower() for a in r["attachments"])]
    if label:
        rows = [r for r in rows if label in r["labels"]]
    if unread is not None:
        rows = [r for r in rows if r["read"] != unread]
    if has_attachments is not None:
        rows = [r for r in rows if bool(r["attachments"]) == has_attachments]
    if after:
        rows = [r for r in rows if r["sent_at"] >= after]
    if before:
        rows = [r for r in rows if r["sent_at"] < before]
    rows = sort_rows(rows, sort_by, _SORT)
    return [public(r, "owner_id", "body") for r in paginate(rows, page_index, page_limit)]


@APP.api("show_email", "Show one email with its body (does not mark it read).", [Param("email_id", "string", "The email's id.")],
         response=_EMAIL, errors=("404 email not found",))
def show_email(ctx, email_id):
    return public(_email(ctx, email_id), "owner_id")


@APP.api(
    "show_thread",
    "List the emails of a conversation thread in your mailbox, oldest first.",
    [Param("thread_id", "string", "The thread's id (the thread_id field of an email).")],
    response=[_EMAIL_SUMMARY],
    errors=("404 thread not found",),
    paginated=True,
)
def show_thread(ctx, thread_id, page_index=0, page_limit=5):
    rows = [r for r in ctx.table("emails").rows_of(ctx.user) if r["thread_id"] == thread_id]
    if not rows:
        raise ApiError(f"mail: thread {thread_id!r} not found.")
    rows.sort(key=lambda r: r["sent_at"])
    return [public(r, "owner_id", "body") for r in paginate(rows, page_index, page_limit)]


@APP.api(
    "show_attachments",
    "List the attachments of an email (file name and size in bytes).",
    [Param("email_id", "string", "The email's id.")],
    response=[{"file_name": "string", "size_bytes": "integer"}],
    errors=("404 email not found",),
)
def show_attachments(ctx, email_id):
    return [dict(a) for a in _email(ctx, email_id)["attachments"]]


@APP.api(
    "send_email",
    "Send a new email. Attachments are given by file name (metadata only).",
    [
        Param("recipients", "list[string]", "Email addresses to send to (at least one)."),
        Param("subject", "string", "Subject line.", max_length=300),
        Param("body", "string", "Body text.", required=False, default="", max_length=50000),
        Param("cc", "list[string]", "Addresses to copy.", required=False, default=None, nullable=True),
        Param("attachment_names", "list[string]", "File names to attach.", required=False, default=None, nullable=True),
    ],
    response={"email_id": "string", "thread_id": "string"},
    errors=("422 a recipient address is invalid or the subject is empty",),
    mutates=True, destructive=True, outbound=True,
)
def send_email(ctx, recipients, subject, body="", cc=None, attachment_names=None):
    to = _addresses("send_email", "recipients", recipients)
    copy = _addresses("send_email", "cc", cc or [], allow_empty=True)
    if not subject.strip():
        raise ApiError("mail.send_email: parameter 'subject' must not be empty.")
    thread = ctx.new_id("thread")
    attachments = [{"file_name": n, "size_bytes": 0} for n in (attachment_names or [])]
    rid = _deliver(ctx, {"thread_id": thread, "recipients": to, "cc": copy, "subject": subject, "body": body, "attachments": attachments})
    return {"email_id": rid, "thread_id": thread}


@APP.api(
    "reply_to_email",
    "Reply to an email in its thread: to its sender, or to everyone on it with reply_all=true.",
    [
        Param("email_id", "string", "The email to reply to."),
        Param("body", "string", "Reply text.", max_length=50000),
        Param("reply_all", "boolean", "Also reply to the other recipients.", required=False, default=False),
    ],
    response={"email_id": "string"},
    errors=("404 email not found",),
    mutates=True, destructive=True, outbound=True,
)
def reply_to_email(ctx, email_id, body, reply_all=False):
    orig = _email(ctx, email_id)
    me = ctx.person(ctx.user)["email"]
    if orig["sender"] == me:
        to = list(orig["recipients"])
    else:
        to = [orig["sender"]]
    cc = [a for a in (*orig["recipients"], *orig["cc"]) if a != me and a not in to] if reply_all else []
    subject = orig["subject"] if orig["subject"].lower().startswith("re:") else f"Re: {orig['subject']}"
    rid = _deliver(ctx, {"thread_id": orig["thread_id"], "recipients": to, "cc": cc, "subject": subject, "body": body, "attachments": []})
    return {"email_id": rid}


@APP.api(
    "forward_email",
    "Forward an email, with its attachments, to new recipients.",
    [
        Param("email_id", "string", "The email to forward."),
        Param("recipients", "list[string]", "Email addresses to forward to."),
        Param("body", "string", "Text to put above the forwarded message.", required=False, default="", max_length=50000),
    ],
    response={"email_id": "string"},
    errors=("404 email not found", "422 a recipient address is invalid"),
    mutates=True, destructive=True, outbound=True,
)
def forward_email(ctx, email_id, recipients, body=""):
    orig = _email(ctx, email_id)
    to = _addresses("forward_email", "recipients", recipients)
    text = f"{body}\n\n---------- Forwarded message ----------\nFrom: {orig['sender']}\nSubject: {orig['subject']}\n\n{orig['body']}"
    rid = _deliver(ctx, {
        "thread_id": ctx.new_id("thread"), "recipients": to, "cc": [], "subject": f"Fwd: {orig['subject']}",
        "body": text.lstrip("\n"), "attachments": [dict(a) for a in orig["attachments"]],
    })
    return {"email_id": rid}


@APP.api(
    "move_email",
    "Move an email to another folder: inbox, archive or trash ('sent' is only for emails you sent).",
    [Param("email_id", "string", "The email's id."), Param("folder", "string", "Destination folder.", choices=FOLDERS)],
    response={"message": "string"},
    errors=("404 email not found", "422 only emails you sent can go to 'sent'"),
    mutates=True,
)
def move_email(ctx, email_id, folder):
    row = _email(ctx, email_id)
    if folder == "sent" and row["sender"] != ctx.person(ctx.user)["email"]:
        raise ApiError("mail.move_email: parameter 'folder': only emails you sent can be moved to 'sent'.")
    if row["folder"] != folder:
        ctx.table("emails").update(email_id, folder=folder)
    return {"message": f"Email moved to {folder}."}


@APP.api(
    "delete_email",
    "Delete an email permanently from your mailbox (to keep it recoverable, move it to 'trash' instead).",
    [Param("email_id", "string", "The email's id.")],
    response={"message": "string"},
    errors=("404 email not found",),
    mutates=True, destructive=True,
)
def delete_email(ctx, email_id):
    _email(ctx, email_id)
    ctx.table("emails").delete(email_id)
    return {"message": "Email deleted."}


@APP.api(
    "mark_email_read",
    "Mark an email as read (or unread with read=false).",
    [Param("email_id", "string", "The email's id."), Param("read", "boolean", "True for read, false for unread.", required=False, default=True)],
    response={"message": "string"},
    errors=("404 email not found",),
    mutates=True,
)
def mark_email_read(ctx, email_id, read=True):
    row = _email(ctx, email_id)
    if row["read"] != read:
        ctx.table("emails").update(email_id, read=read)
    return {"message": "Marked as read." if read else "Marked as unread."}


@APP.api(
    "add_label",
    "Add a label to an email (no effect if it already has it).",
    [Param("email_id", "string", "The email's id."), Param("label", "string", "The label.", max_length=40)],
    response={"labels": "list[string]"},
    errors=("404 email not found",),
    mutates=True,
)
def add_label(ctx, email_id, label):
    row = _email(ctx, email_id)
    if not label.strip():
        raise ApiError("mail.add_label: parameter 'label' must not be empty.")
    if label in row["labels"]:
        return {"labels": list(row["labels"])}
    new = ctx.table("emails").update(email_id, labels=sorted({*row["labels"], label}))
    return {"labels": list(new["labels"])}


@APP.api(
    "remove_label",
    "Remove a label from an email.",
    [Param("email_id", "string", "The email's id."), Param("label", "string", "The label.")],
    response={"labels": "list[string]"},
    errors=("404 email not found", "404 the email has no such label"),
    mutates=True,
)
def remove_label(ctx, email_id, label):
    row = _email(ctx, email_id)
    if label not in row["labels"]:
        raise ApiError(f"mail.remove_label: email {email_id!r} has no label {label!r}.")
    new = ctx.table("emails").update(email_id, labels=[x for x in row["labels"] if x != label])
    return {"labels": list(new["labels"])}


@APP.api(
    "show_labels",
    "List the labels used in your mailbox with how many emails carry each.",
    response=[{"label": "string", "count": "integer"}],
)
def show_labels(ctx):
    counts: dict[str, int] = {}
    for r in ctx.table("emails").rows_of(ctx.user):
        for x in r["labels"]:
            counts[x] = counts.get(x, 0) + 1
    return [{"label": x, "count": n} for x, n in sorted(counts.items())]
