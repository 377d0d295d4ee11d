"""Scenarios over phone, mail, notes, todo, calendar and files."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

from skillbank.worlds.apps.scenario import ScenarioDef, TaskSpec
from skillbank.worlds.engine.api import NOW, TODAY
from skillbank.worlds.engine.grading import Expect

# ---------------------------------------------------------------------------------------
# notes: tag every note that mentions a word (pagination + a write per match)

_TAG_NOTES_SKILL = '''
def tag_notes_mentioning(word: str, tag: str) -> int:
    """Add `tag` to every note of the supervisor whose title or content mentions `word`.

    Returns how many notes were newly tagged.
    """
    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
    token = apis.notes.login(username=profile["email"], password=passwords["notes"])["access_token"]
    matches = []
    page = 0
    while True:
        batch = apis.notes.show_notes(access_token=token, query=word, page_index=page, page_limit=20)
        if not batch:
            break
        matches.extend(batch)
        page += 1
    tagged = 0
    for note in matches:
        if tag not in note["tags"]:
            apis.notes.add_tag(access_token=token, note_id=note["id"], tag=tag)
            tagged += 1
    return tagged
'''


def _build_tag_notes(data: Any, rng: random.Random) -> list[TaskSpec]:
    words = ["passport", "cake", "lentils", "budget", "tomatoes", "snacks"]
    tags = ["important", "later", "review", "todo-soon"]
    specs: list[TaskSpec] = []
    people = [p for p in data.people]
    rng.shuffle(people)
    for person in people:
        word = rng.choice(words)
        tag = rng.choice(tags)
        notes = data.rows_of("notes", "notes", person.id)
        hits = [n for n in notes if word in (n["title"] + " " + n["content"]).lower() and tag not in n["tags"]]
        if not hits:
            continue
        specs.append(
            TaskSpec(
                instruction=f"Tag every note of mine that mentions \"{word}\" with \"{tag}\", and tell me how many notes you tagged.",
                supervisor=person.id,
                call=f"tag_notes_mentioning(word={word!r}, tag={tag!r})",
                expect=tuple(
                    Expect("notes", "notes", "update", match={"id": n["id"], "tags": sorted({*n["tags"], tag})},
                           only_fields=frozenset({"tags", "updated_at"}))
                    for n in hits
                ),
                answer=len(hits),
            )
        )
        if len(specs) == 3:
            break
    return specs


SCENARIOS: list[ScenarioDef] = [
    ScenarioDef(
        id="notes_tag_mentioning",
        apps=("notes",),
        difficulty=1,
        split="train",
        skill_name="tag_notes_mentioning",
        skill_source=_TAG_NOTES_SKILL,
        build=_build_tag_notes,
        explore_block='print(apis.api_docs.show_api_descriptions(app_name="notes"))\nprint(apis.api_docs.show_api_doc(app_name="notes", api_name="show_notes"))',
        description="Find notes by text across pages and tag each one.",
    ),
]


# ---------------------------------------------------------------------------------------
# shared helpers for the builders below

_RELATION_WORDS = {"family": "family members", "friend": "friends", "coworker": "coworkers", "roommate": "roommates"}


def _people(data: Any, rng: random.Random) -> list[Any]:
    people = list(data.people)
    rng.shuffle(people)
    return people


def _first_three(data: Any, rng: random.Random, make: Callable[..., TaskSpec | None], *, relaxed: bool = False) -> list[TaskSpec]:
    """Try supervisors in a seeded order until three of them give a meaningful task. With
    `relaxed`, when too few do, a second pass calls ``make(person, relaxed=True)`` on the
    others, so every seed builds (seeds that built before keep exactly their tasks)."""
    people = _people(data, rng)
    specs: list[TaskSpec] = []
    used: set[str] = set()
    for person in people:
        spec = make(person)
        if spec is not None:
            specs.append(spec)
            used.add(person.id)
            if len(specs) == 3:
                return specs
    if relaxed:
        for person in people:
            if person.id not in used:
                spec = make(person, relaxed=True)
                if spec is not None:
                    specs.append(spec)
                    if len(specs) == 3:
                        break
    return specs


def _most(rng: random.Random, groups: dict[str, list[Any]]) -> str:
    """The key with the most members (ties broken by the seeded rng): tasks with several hits test loops."""
    top = max(len(v) for v in groups.values())
    return rng.choice(sorted(k for k, v in groups.items() if len(v) == top))


def _text_expects(sender: Any, recipient_phone: str, content: str, data: Any) -> tuple[Expect, ...]:
    """A sent text is two records: the sender's copy and, for people in the world, the recipient's."""
    out = [Expect("phone", "messages", "insert",
                  match={"owner_id": sender.id, "direction": "sent", "recipient_phone": recipient_phone, "content": content},
                  label=f"text to {recipient_phone}: {content!r}")]
    other = next((p for p in data.people if p.phone == recipient_phone), None)
    if other is not None:
        out.append(Expect("phone", "messages", "insert",
                          match={"owner_id": other.id, "direction": "received", "sender_phone": sender.phone, "content": content},
                          label=f"{other.full_name} receives the text"))
    return tuple(out)


def _email_expects(sender: Any, recipient: Any, subject: str, body: str) -> tuple[Expect, ...]:
    return (
        Expect("mail", "emails", "insert", match={"owner_id": sender.id, "folder": "sent", "recipients": [recipient.email],
                                                  "subject": subject, "body": body}, label=f"email {subject!r} sent"),
        Expect("mail", "emails", "insert", match={"owner_id": recipient.id, "folder": "inbox", "subject": subject, "body": body},
               label=f"{recipient.full_name} receives {subject!r}"),
    )


def _midnight(day: dt.date) -> str:
    return dt.datetime.combine(day, dt.time(), dt.UTC).isoformat()


def _docs(app: str, *apis: str) -> str:
    lines = [f'print(apis.api_docs.show_api_descriptions(app_name="{app}"))']
    lines += [f'print(apis.api_docs.show_api_doc(app_name="{app}", api_name="{a}"))' for a in apis]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# phone: text every contact with a relationship label

_TEXT_RELATION_SKILL = '''
def text_contacts_with_relationship(relationship: str, message: str) -> int:
    """Send `message` by text to every phone contact labelled `relationship`
    ('family', 'friend', 'coworker', 'roommate' or 'other').

    Returns how many contacts were texted.
    """
    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
    token = apis.phone.login(username=profile["phone"], password=passwords["phone"])["access_token"]
    contacts = []
    page = 0
    while True:
        batch = apis.phone.search_contacts(access_token=token, relationship=relationship, page_index=page, page_limit=20)
        if not batch:
            break
        contacts.extend(batch)
        page += 1
    for contact in contacts:
        apis.phone.send_text_message(access_token=token, phone_number=contact["phone"], content=message)
    return len(contacts)
'''

_GREETINGS = (
    "Hope you're having a good week!",
    "Reminder: potluck at my place on Saturday at 7.",
    "I have a new number for work calls, same as this one for personal.",
    "Thinking of you all, let's catch up soon.",
    "Heads up: I'll be travelling next week and slow to reply.",
)


def _build_text_relation(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        contacts = data.rows_of("phone", "contacts", person.id)
        rel = rng.choice(sorted(_RELATION_WORDS))
        chosen = [c for c in contacts if c["relationship"] == rel]
        if not 2 <= len(chosen) <= 8:
            return None
        msg = rng.choice(_GREETINGS)
        expects = tuple(e for c in chosen for e in _text_expects(person, c["phone"], msg, data))
        return TaskSpec(
            instruction=f"Text all my {_RELATION_WORDS[rel]} in my phone contacts: \"{msg}\" How many people did you text?",
            supervisor=person.id,
            call=f"text_contacts_with_relationship(relationship={rel!r}, message={msg!r})",
            expect=expects,
            answer=len(chosen),
        )

    return _first_three(data, rng, make)


# ---------------------------------------------------------------------------------------
# phone: mark a contact's unread texts read

_READ_TEXTS_SKILL = '''
def mark_texts_from_contact_read(contact_name: str) -> int:
    """Mark every unread text message received from the contact named `contact_name` as read.

    Returns how many messages were marked read.
    """
    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
    token = apis.phone.login(username=profile["phone"], password=passwords["phone"])["access_token"]
    phone_number = None
    page = 0
    while phone_number is None:
        batch = apis.phone.search_contacts(access_token=token, query=contact_name, page_index=page, page_limit=20)
        if not batch:
            raise ValueError(f"no contact named {contact_name!r}")
        for contact in batch:
            if f"{contact['first_name']} {contact['last_name']}".lower() == contact_name.lower():
                phone_number = contact["phone"]
                break
        page += 1
    unread = []
    page = 0
    while True:
        batch = apis.phone.search_text_messages(
            access_token=token, phone_number=phone_number, direction="received", unread=True,
            page_index=page, page_limit=20,
        )
        if not batch:
            break
        unread.extend(batch)
        page += 1
    for message in unread:
        apis.phone.mark_text_message_read(access_token=token, message_id=message["id"])
    return len(unread)
'''


def _build_read_texts(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        contacts = {c["phone"]: c for c in data.rows_of("phone", "contacts", person.id)}
        unread: dict[str, list[dict]] = {}
        for m in data.rows_of("phone", "messages", person.id):
            if m["direction"] == "received" and not m["read"] and m["sender_phone"] in contacts:
                unread.setdefault(m["sender_phone"], []).append(m)
        if not unread or max(map(len, unread.values())) < 2:
            return None
        phone = _most(rng, unread)
        c = contacts[phone]
        name = f"{c['first_name']} {c['last_name']}"
        return TaskSpec(
            instruction=f"Mark all the unread texts from {name} as read, and tell me how many there were.",
            supervisor=person.id,
            call=f"mark_texts_from_contact_read(contact_name={name!r})",
            expect=tuple(Expect("phone", "messages", "update", match={"id": m["id"], "read": True}, only_fields=frozenset({"read"}))
                         for m in unread[phone]),
            answer=len(unread[phone]),
        )

    return _first_three(data, rng, make)


# ---------------------------------------------------------------------------------------
# mail: archive everything in the inbox from one sender

_ARCHIVE_SKILL = '''
def archive_inbox_emails_from(sender_email: str) -> int:
    """Move every email in the inbox sent by `sender_email` to the archive.

    Returns how many emails were archived.
    """
    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
    token = apis.mail.login(username=profile["email"], password=passwords["mail"])["access_token"]
    found = []
    page = 0
    while True:
        batch = apis.mail.show_emails(access_token=token, folder="inbox", sender=sender_email, page_index=page, page_limit=20)
        if not batch:
            break
        found.extend(e for e in batch if e["sender"].lower() == sender_email.lower())
        page += 1
    # collect first, then move: moving while paging would shift the pages
    for email in found:
        apis.mail.move_email(access_token=token, email_id=email["id"], folder="archive")
    return len(found)
'''


def _build_archive(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        inbox: dict[str, list[dict]] = {}
        for e in data.rows_of("mail", "emails", person.id):
            if e["folder"] == "inbox":
                inbox.setdefault(e["sender"], []).append(e)
        senders = sorted(s for s, es in inbox.items() if len(es) >= 2)
        if not senders:
            return None
        sender = rng.choice(senders)
        who = next((p for p in data.people if p.email == sender), None)
        label = f"{who.full_name} ({sender})" if who else sender
        return TaskSpec(
            instruction=f"Archive every email in my inbox from {label}, and tell me how many you archived.",
            supervisor=person.id,
            call=f"archive_inbox_emails_from(sender_email={sender!r})",
            expect=tuple(Expect("mail", "emails", "update", match={"id": e["id"], "folder": "archive"}, only_fields=frozenset({"folder"}))
                         for e in inbox[sender]),
            answer=len(inbox[sender]),
        )

    return _first_three(data, rng, make)


# ---------------------------------------------------------------------------------------
# mail + files: save the attachment names of one sender's emails to a file

_ATTACHMENTS_SKILL = '''
def save_attachment_names(sender_email: str, path: str) -> int:
    """Write the distinct names of all attachments in emails from `sender_email` (any folder)
    to the file at `path`, one per line, sorted alphabetically.

    Returns how many names were written.
    """
    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
    mail_token = apis.mail.login(username=profile["email"], password=passwords["mail"])["access_token"]
    names = set()
    page = 0
    while True:
        batch = apis.mail.show_emails(
            access_token=mail_token, sender=sender_email, has_attachments=True, page_index=page, page_limit=20
        )
        if not batch:
            break
        for email in batch:
            if email["sender"].lower() == sender_email.lower():
                names.update(a["file_name"] for a in email["attachments"])
        page += 1
    files_token = apis.files.login(username=profile["email"], password=passwords["files"])["access_token"]
    apis.files.write_file(access_token=files_token, path=path, content="\\n".join(sorted(names)))
    return len(names)
'''


def _build_attachments(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        by_sender: dict[str, set[str]] = {}
        for e in data.rows_of("mail", "emails", person.id):
            if e["attachments"] and e["sender"] != person.email:
                by_sender.setdefault(e["sender"], set()).update(a["file_name"] for a in e["attachments"])
        senders = sorted(s for s, names in by_sender.items() if len(names) >= 2)
        if not senders:
            return None
        sender = rng.choice(senders)
        who = next(p for p in data.people if p.email == sender)
        path = f"/documents/attachments_from_{who.first_name.lower()}.txt"
        names = sorted(by_sender[sender])
        return TaskSpec(
            instruction=(f"Make a list of the names of all attachments {who.full_name} ({sender}) has ever emailed me, "
                         f"each name once, sorted alphabetically, one per line, and save it as {path} in my files. "
                         "How many names are on the list?"),
            supervisor=person.id,
            call=f"save_attachment_names(sender_email={sender!r}, path={path!r})",
            expect=(Expect("files", "files", "insert", match={"owner_id": person.id, "path": path, "kind": "file",
                                                              "content": "\n".join(names)}),),
            answer=len(names),
        )

    return _first_three(data, rng, make)


# ---------------------------------------------------------------------------------------
# todo: complete every open task with a tag

_COMPLETE_TAGGED_SKILL = '''
def complete_open_tasks_with_tag(tag: str) -> int:
    """Mark every open to-do task tagged `tag` (in any list) as completed.

    Returns how many tasks were completed.
    """
    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
    token = apis.todo.login(username=profile["email"], password=passwords["todo"])["access_token"]
    open_tasks = []
    page = 0
    while True:
        batch = apis.todo.show_tasks(access_token=token, tag=tag, completed=False, page_index=page, page_limit=20)
        if not batch:
            break
        open_tasks.extend(batch)
        page += 1
    # collect first, then complete: completing while paging over open tasks would skip some
    for task in open_tasks:
        apis.todo.mark_task_completed(access_token=token, task_id=task["id"])
    return len(open_tasks)
'''


def _build_complete_tagged(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        tasks = data.rows_of("todo", "tasks", person.id)
        tags = sorted({t for task in tasks if not task["completed"] for t in task["tags"]})
        if not tags:
            return None
        tag = _most(rng, {g: [t for t in tasks if g in t["tags"] and not t["completed"]] for g in tags})
        hits = [t for t in tasks if tag in t["tags"] and not t["completed"]]
        return TaskSpec(
            instruction=f"I've finished everything tagged \"{tag}\" in my to-do app. Mark those open tasks as completed "
                        "and tell me how many you marked.",
            supervisor=person.id,
            call=f"complete_open_tasks_with_tag(tag={tag!r})",
            expect=tuple(Expect("todo", "tasks", "update", match={"id": t["id"], "completed": True},
                                only_fields=frozenset({"completed", "completed_at"})) for t in hits),
            answer=len(hits),
        )

    return _first_three(data, rng, make)


# ---------------------------------------------------------------------------------------
# todo + phone: text everyone who shares an overdue task

_OVERDUE_TEXT_SKILL = '''
def text_overdue_task_collaborators(greeting: str) -> int:
    """For every overdue to-do task shared with others, text each person it is shared with
    "<greeting>: <task title> was due on <due date>." (their number comes from the phone
    contact with their email).

    Returns how many texts were sent.
    """
    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
    todo_token = apis.todo.login(username=profile["email"], password=passwords["todo"])["access_token"]
    phone_token = apis.phone.login(username=profile["phone"], password=passwords["phone"])["access_token"]
    overdue = []
    page = 0
    while True:
        batch = apis.todo.show_tasks(access_token=todo_token, overdue=True, shared=True, page_index=page, page_limit=20)
        if not batch:
            break
        overdue.extend(batch)
        page += 1
    numbers = {}
    sent = 0
    for task in overdue:
        for email in task["shared_with"]:
            if email not in numbers:
                matches = apis.phone.search_contacts(access_token=phone_token, query=email, page_limit=20)
                exact = [c for c in matches if (c["email"] or "").lower() == email.lower()]
                if not exact:
                    raise ValueError(f"no phone contact with email {email}")
                numbers[email] = exact[0]["phone"]
            content = f"{greeting}: {task['title']} was due on {task['due_date']}."
            apis.phone.send_text_message(access_token=phone_token, phone_number=numbers[email], content=content)
            sent += 1
    return sent
'''


def _build_overdue_text(data: Any, rng: random.Random) -> list[TaskSpec]:
    today = TODAY.isoformat()

    def make(person: Any) -> TaskSpec | None:
        tasks = [t for t in data.rows_of("todo", "tasks", person.id)
                 if t["shared_with"] and not t["completed"] and t["due_date"] and t["due_date"] < today]
        if not tasks:
            return None
        phones = {c["email"]: c["phone"] for c in data.rows_of("phone", "contacts", person.id) if c["email"]}
        if any(e not in phones for t in tasks for e in t["shared_with"]):
            return None
        greeting = rng.choice(("Reminder", "Friendly nudge", "Heads up"))
        expects = tuple(
            e for t in tasks for email in t["shared_with"]
            for e in _text_expects(person, phones[email], f"{greeting}: {t['title']} was due on {t['due_date']}.", data)
        )
        return TaskSpec(
            instruction=(f"For each overdue task in my to-do app that I share with other people, text every person it's shared "
                         f"with: \"{greeting}: <task title> was due on <due date as YYYY-MM-DD>.\" "
                         "Use their numbers from my phone contacts. How many texts did you send?"),
            supervisor=person.id,
            call=f"text_overdue_task_collaborators(greeting={greeting!r})",
            expect=expects,
            answer=sum(len(t["shared_with"]) for t in tasks),
        )

    return _first_three(data, rng, make)


# ---------------------------------------------------------------------------------------
# files: delete every file with an extension under a directory

_DELETE_EXT_SKILL = '''
def delete_files_with_extension(directory: str, extension: str) -> int:
    """Delete every file with `extension` (no dot) anywhere under `directory`.

    Returns how many files were deleted.
    """
    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
    token = apis.files.login(username=profile["email"], password=passwords["files"])["access_token"]
    doomed = []
    page = 0
    while True:
        batch = apis.files.search_files(access_token=token, under=directory, extension=extension, page_index=page, page_limit=20)
        if not batch:
            break
        doomed.extend(batch)
        page += 1
    # collect first, then delete: deleting while paging would skip files
    for entry in doomed:
        apis.files.delete_file(access_token=token, path=entry["path"])
    return len(doomed)
'''

_DIR_EXTS = (("/downloads", "tmp"), ("/downloads", "pdf"), ("/photos", "png"), ("/photos", "jpg"), ("/notes", "md"),
             ("/documents", "csv"), ("/notes", "txt"))


def _files_under(data: Any, person: Any, directory: str, ext: str, direct: bool = False) -> list[dict]:
    return [f for f in data.rows_of("files", "files", person.id)
            if f["kind"] == "file" and f["extension"] == ext
            and (f["parent"] == directory if direct else f["path"].startswith(directory + "/"))]


def _build_delete_ext(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        directory, ext = rng.choice(_DIR_EXTS)
        hits = _files_under(data, person, directory, ext)
        if len(hits) < 2:
            return None
        return TaskSpec(
            instruction=f"Clean up my {directory} folder: delete every .{ext} file in it, subfolders included. "
                        "How many files did you delete?",
            supervisor=person.id,
            call=f"delete_files_with_extension(directory={directory!r}, extension={ext!r})",
            expect=tuple(Expect("files", "files", "delete", match={"path": f["path"], "owner_id": person.id}) for f in hits),
            answer=len(hits),
        )

    return _first_three(data, rng, make)


# ---------------------------------------------------------------------------------------
# files: total size of files with an extension

_TOTAL_SIZE_SKILL = '''
def total_size_of_files(directory: str, extension: str) -> int:
    """Total size in bytes of all files with `extension` (no dot) anywhere under `directory`."""
    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
    token = apis.files.login(username=profile["email"], password=passwords["files"])["access_token"]
    total = 0
    page = 0
    while True:
        batch = apis.files.search_files(access_token=token, under=directory, extension=extension, page_index=page, page_limit=20)
        if not batch:
            break
        total += sum(entry["size_bytes"] for entry in batch)
        page += 1
    return total
'''


def _build_total_size(data: Any, rng: random.Random) -> list[TaskSpec]:
    choices = (("/documents", "pdf"), ("/photos", "jpg"), ("/", "pdf"), ("/", "txt"), ("/downloads", "tmp"), ("/", "png"))

    def make(person: Any) -> TaskSpec | None:
        directory, ext = rng.choice(choices)
        hits = _files_under(data, person, "" if directory == "/" else directory, ext)
        if len(hits) < 2:
            return None
        where = "all my files" if directory == "/" else f"my {directory} folder (subfolders included)"
        return TaskSpec(
            instruction=f"How many bytes do the .{ext} files in {where} take up in total?",
            supervisor=person.id,
            call=f"total_size_of_files(directory={directory!r}, extension={ext!r})",
            answer=sum(f["size_bytes"] for f in hits),
        )

    return _first_three(data, rng, make)


# ---------------------------------------------------------------------------------------
# calendar: cancel every event I organise on a day

_CANCEL_DAY_SKILL = '''
def cancel_my_events_on(date: str) -> list[str]:
    """Cancel every confirmed event the supervisor organises on `date` (YYYY-MM-DD).

    Returns the titles of the cancelled events.
    """
    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
    token = apis.calendar.login(username=profile["email"], password=passwords["calendar"])["access_token"]
    events = []
    page = 0
    while True:
        batch = apis.calendar.show_day(access_token=token, date=date, page_index=page, page_limit=20)
        if not batch:
            break
        events.extend(batch)
        page += 1
    titles = []
    for event in events:
        if event["my_rsvp"] == "organizer" and event["status"] == "confirmed":
            apis.calendar.cancel_event(access_token=token, event_id=event["id"])
            titles.append(event["title"])
    return titles
'''


def _build_cancel_day(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        by_day: dict[str, list[dict]] = {}
        for e in data.rows_of("calendar", "events", person.id):
            if e["my_rsvp"] == "organizer" and e["status"] == "confirmed" and e["start"] > NOW.isoformat():
                by_day.setdefault(e["start"][:10], []).append(e)
        days = sorted(d for d, es in by_day.items() if d > TODAY.isoformat())
        if not days or max(len(by_day[d]) for d in days) < 2:
            return None
        day = _most(rng, {d: by_day[d] for d in days})
        hits = by_day[day]
        when = dt.date.fromisoformat(day).strftime("%A %B %-d, %Y")
        return TaskSpec(
            instruction=f"I'll be away on {when}. Cancel every event I organise that day and tell me their titles.",
            supervisor=person.id,
            call=f"cancel_my_events_on(date={day!r})",
            expect=tuple(Expect("calendar", "events", "update", match={"id": e["id"], "status": "cancelled"},
                                only_fields=frozenset({"status"})) for e in hits),
            answer=[e["title"] for e in hits],
        )

    return _first_three(data, rng, make)


# ---------------------------------------------------------------------------------------
# notes + phone + mail: email a note to a contact

_EMAIL_NOTE_SKILL = '''
def email_note_to_contact(note_title: str, contact_name: str) -> str:
    """Email the note titled `note_title` to the phone contact named `contact_name`, with the
    note's title as the subject and its content as the body.

    Returns the sent email's id.
    """
    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
    notes_token = apis.notes.login(username=profile["email"], password=passwords["notes"])["access_token"]
    note = None
    page = 0
    while note is None:
        batch = apis.notes.show_notes(access_token=notes_token, query=note_title, page_index=page, page_limit=20)
        if not batch:
            raise ValueError(f"no note titled {note_title!r}")
        note = next((n for n in batch if n["title"].lower() == note_title.lower()), None)
        page += 1
    phone_token = apis.phone.login(username=profile["phone"], password=passwords["phone"])["access_token"]
    email = None
    page = 0
    while email is None:
        batch = apis.phone.search_contacts(access_token=phone_token, query=contact_name, page_index=page, page_limit=20)
        if not batch:
            raise ValueError(f"no contact named {contact_name!r} with an email address")
        for contact in batch:
            if f"{contact['first_name']} {contact['last_name']}".lower() == contact_name.lower() and contact["email"]:
                email = contact["email"]
                break
        page += 1
    mail_token = apis.mail.login(username=profile["email"], password=passwords["mail"])["access_token"]
    sent = apis.mail.send_email(access_token=mail_token, recipients=[email], subject=note["title"], body=note["content"])
    return sent["email_id"]
'''


def _build_email_note(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        notes = data.rows_of("notes", "notes", person.id)
        titles = [n["title"] for n in notes]
        unique = sorted({t for t in titles if titles.count(t) == 1})
        contacts = [c for c in data.rows_of("phone", "contacts", person.id) if c["email"] and c["relationship"] in _RELATION_WORDS]
        if not unique or not contacts:
            return None
        title = rng.choice(unique)
        note = next(n for n in notes if n["title"] == title)
        contact = rng.choice(contacts)
        other = next(p for p in data.people if p.email == contact["email"])
        name = f"{contact['first_name']} {contact['last_name']}"
        rel = {"family": "family member", "friend": "friend", "coworker": "coworker", "roommate": "roommate"}[contact["relationship"]]
        return TaskSpec(
            instruction=f"Email my note \"{title}\" to my {rel} {name}: the note's title as the subject and its text as the body. "
                        "Their address is in my phone contacts.",
            supervisor=person.id,
            call=f"email_note_to_contact(note_title={title!r}, contact_name={name!r})",
            expect=_email_expects(person, other, note["title"], note["content"]),
        )

    return _first_three(data, rng, make)


# ---------------------------------------------------------------------------------------
# phone: text back the contacts whose calls I missed

_MISSED_CALLS_SKILL = '''
def text_missed_callers(since: str, message: str) -> int:
    """Text `message` once to every phone contact whose call was missed at or after `since`
    (an ISO date); unknown numbers are skipped.

    Returns how many people were texted.
    """
    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
    token = apis.phone.login(username=profile["phone"], password=passwords["phone"])["access_token"]
    numbers = []
    page = 0
    while True:
        batch = apis.phone.show_call_log(access_token=token, direction="missed", started_after=since, page_index=page, page_limit=20)
        if not batch:
            break
        for call in batch:
            if call["phone"] not in numbers:
                numbers.append(call["phone"])
        page += 1
    texted = 0
    for number in numbers:
        contacts = apis.phone.search_contacts(access_token=token, query=number, page_limit=20)
        if any(c["phone"] == number for c in contacts):
            apis.phone.send_text_message(access_token=token, phone_number=number, content=message)
            texted += 1
    return texted
'''


def _build_missed_calls(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        days = rng.choice((5, 7, 10, 14))
        since = TODAY - dt.timedelta(days=days)
        contacts = {c["phone"] for c in data.rows_of("phone", "contacts", person.id)}
        numbers = sorted({c["phone"] for c in data.rows_of("phone", "calls", person.id)
                          if c["direction"] == "missed" and c["started_at"] >= _midnight(since) and c["phone"] in contacts})
        if not 1 <= len(numbers) <= 6:
            return None
        msg = rng.choice(("Sorry I missed your call, I'll ring you back tonight.", "Missed your call, is everything ok?",
                          "Sorry, couldn't pick up. Text me?"))
        return TaskSpec(
            instruction=(f"Text everyone in my contacts whose call I missed since {since.isoformat()} (one text per person): "
                         f"\"{msg}\" Ignore numbers that aren't in my contacts. How many people did you text?"),
            supervisor=person.id,
            call=f"text_missed_callers(since={since.isoformat()!r}, message={msg!r})",
            expect=tuple(e for n in numbers for e in _text_expects(person, n, msg, data)),
            answer=len(numbers),
        )

    return _first_three(data, rng, make)


# ---------------------------------------------------------------------------------------
# mail: label every email whose subject mentions some text

_LABEL_SUBJECT_SKILL = '''
def label_emails_with_subject(subject_text: str, label: str) -> int:
    """Add `label` to every email, in any folder, whose subject mentions `subject_text`.

    Returns how many emails were newly labelled.
    """
    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
    token = apis.mail.login(username=profile["email"], password=passwords["mail"])["access_token"]
    matches = []
    page = 0
    while True:
        batch = apis.mail.show_emails(access_token=token, subject=subject_text, page_index=page, page_limit=20)
        if not batch:
            break
        matches.extend(batch)
        page += 1
    labelled = 0
    for email in matches:
        if label not in email["labels"]:
            apis.mail.add_label(access_token=token, email_id=email["id"], label=label)
            labelled += 1
    return labelled
'''


def _build_label_subject(data: Any, rng: random.Random) -> list[TaskSpec]:
    words = ("invoice", "photos", "trip", "report", "contract", "budget", "lunch", "birthday", "itinerary", "slides")

    def make(person: Any) -> TaskSpec | None:
        word = rng.choice(words)
        label = rng.choice(("to-review", "keep", "follow-up", "reference"))
        hits = [e for e in data.rows_of("mail", "emails", person.id) if word in e["subject"].lower()]
        if len(hits) < 2:
            return None
        return TaskSpec(
            instruction=f"Put the label \"{label}\" on every email in my mailbox (any folder) whose subject mentions "
                        f"\"{word}\". How many emails did you label?",
            supervisor=person.id,
            call=f"label_emails_with_subject(subject_text={word!r}, label={label!r})",
            expect=tuple(Expect("mail", "emails", "update", match={"id": e["id"], "labels": sorted({*e["labels"], label})},
                                only_fields=frozenset({"labels"})) for e in hits),
            answer=len(hits),
        )

    return _first_three(data, rng, make)


# ---------------------------------------------------------------------------------------
# todo + notes: a note listing open high-priority tasks

_PRIORITY_NOTE_SKILL = '''
def note_open_high_priority_tasks(note_title: str, due_by: str) -> int:
    """Create a note titled `note_title` listing the open high-priority to-do tasks due on or
    before `due_by` (YYYY-MM-DD), one line "- <title> (due <date>)" each, sorted by due
    date then title.

    Returns how many tasks the note lists.
    """
    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
    todo_token = apis.todo.login(username=profile["email"], password=passwords["todo"])["access_token"]
    tasks = []
    page = 0
    while True:
        batch = apis.todo.show_tasks(
            access_token=todo_token, priority="high", completed=False, due_before=due_by, page_index=page, page_limit=20
        )
        if not batch:
            break
        tasks.extend(batch)
        page += 1
    tasks.sort(key=lambda t: (t["due_date"], t["title"]))
    content = "\\n".join(f"- {t['title']} (due {t['due_date']})" for t in tasks)
    notes_token = apis.notes.login(username=profile["email"], password=passwords["notes"])["access_token"]
    apis.notes.create_note(access_token=notes_token, title=note_title, content=content)
    return len(tasks)
'''


def _build_priority_note(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        days = rng.choice((3, 7, 10, 14))
        due_by = (TODAY + dt.timedelta(days=days)).isoformat()
        tasks = sorted(
            (t for t in data.rows_of("todo", "tasks", person.id)
             if t["priority"] == "high" and not t["completed"] and t["due_date"] and t["due_date"] <= due_by),
            key=lambda t: (t["due_date"], t["title"]),
        )
        if len(tasks) < 2:
            return None
        title = rng.choice(("Top priorities", "Urgent this week", "Do first"))
        content = "\n".join(f"- {t['title']} (due {t['due_date']})" for t in tasks)
        return TaskSpec(
            instruction=(f"Make a note titled \"{title}\" listing my open high-priority to-do tasks due on or before {due_by}, "
                         "one per line as \"- <title> (due <YYYY-MM-DD>)\", sorted by due date and then title. "
                         "How many tasks are on it?"),
            supervisor=person.id,
            call=f"note_open_high_priority_tasks(note_title={title!r}, due_by={due_by!r})",
            expect=(Expect("notes", "notes", "insert", match={"owner_id": person.id, "title": title, "content": content}),),
            answer=len(tasks),
        )

    return _first_three(data, rng, make)


# ---------------------------------------------------------------------------------------
# files: back up a directory's files of one type into a new directory

_BACKUP_SKILL = '''
def backup_files(source_dir: str, extension: str, backup_dir: str) -> int:
    """Copy the files with `extension` (no dot) directly inside `source_dir` into `backup_dir`
    (created if missing), keeping their names.

    Returns how many files were copied.
    """
    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
    token = apis.files.login(username=profile["email"], password=passwords["files"])["access_token"]
    entries = []
    page = 0
    while True:
        batch = apis.files.list_directory(access_token=token, path=source_dir, kind="file", page_index=page, page_limit=20)
        if not batch:
            break
        entries.extend(e for e in batch if e["extension"] == extension.lower())
        page += 1
    try:
        apis.files.show_file_info(access_token=token, path=backup_dir)
    except Exception:
        apis.files.create_directory(access_token=token, path=backup_dir)
    for entry in entries:
        apis.files.copy_file(access_token=token, source_path=entry["path"], destination_path=f"{backup_dir}/{entry['name']}")
    return len(entries)
'''


def _build_backup(data: Any, rng: random.Random) -> list[TaskSpec]:
    choices = (("/notes", "txt"), ("/notes", "md"), ("/downloads", "pdf"), ("/photos", "jpg"), ("/documents", "pdf"))

    def make(person: Any) -> TaskSpec | None:
        source, ext = rng.choice(choices)
        hits = _files_under(data, person, source, ext, direct=True)
        if len(hits) < 2:
            return None
        backup = rng.choice(("/backup", "/safe_copies", f"/backup_{ext}"))
        expects = [Expect("files", "files", "insert", match={"owner_id": person.id, "path": backup, "kind": "directory"})]
        expects += [Expect("files", "files", "insert", match={"owner_id": person.id, "path": f"{backup}/{f['name']}",
                                                             "kind": "file", "content": f["content"]}) for f in hits]
        return TaskSpec(
            instruction=(f"Back up the .{ext} files that are directly in my {source} folder: copy them into a new folder "
                         f"{backup}, keeping their names. How many files did you copy?"),
            supervisor=person.id,
            call=f"backup_files(source_dir={source!r}, extension={ext!r}, backup_dir={backup!r})",
            expect=tuple(expects),
            answer=len(hits),
        )

    return _first_three(data, rng, make)


# ---------------------------------------------------------------------------------------
# phone: delete old texts with one contact

_DELETE_TEXTS_SKILL = '''
def delete_texts_with_contact_before(contact_name: str, before: str) -> int:
    """Delete every text message exchanged with the contact named `contact_name` that was
    sent before `before` (an ISO date).

    Returns how many messages were deleted.
    """
    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
    token = apis.phone.login(username=profile["phone"], password=passwords["phone"])["access_token"]
    phone_number = None
    page = 0
    while phone_number is None:
        batch = apis.phone.search_contacts(access_token=token, query=contact_name, page_index=page, page_limit=20)
        if not batch:
            raise ValueError(f"no contact named {contact_name!r}")
        for contact in batch:
            if f"{contact['first_name']} {contact['last_name']}".lower() == contact_name.lower():
                phone_number = contact["phone"]
                break
        page += 1
    old = []
    page = 0
    while True:
        batch = apis.phone.search_text_messages(
            access_token=token, phone_number=phone_number, sent_before=before, page_index=page, page_limit=20
        )
        if not batch:
            break
        old.extend(batch)
        page += 1
    # collect first, then delete: deleting while paging would skip messages
    for message in old:
        apis.phone.delete_text_message(access_token=token, message_id=message["id"])
    return len(old)
'''


def _build_delete_texts(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any, relaxed: bool = False) -> TaskSpec | None:
        contacts = {c["phone"]: c for c in data.rows_of("phone", "contacts", person.id)}
        by_phone: dict[str, list[dict]] = {}
        for m in data.rows_of("phone", "messages", person.id):
            other = m["recipient_phone"] if m["direction"] == "sent" else m["sender_phone"]
            if other in contacts:
                by_phone.setdefault(other, []).append(m)
        phones = sorted(p for p, ms in by_phone.items() if len(ms) >= 2)
        if relaxed:  # only contacts with texts from before their latest day
            phones = [p for p in phones if len({m["sent_at"][:10] for m in by_phone[p]}) >= 2]
        if not phones:
            return None
        phone = rng.choice(phones)
        latest = max(m["sent_at"] for m in by_phone[phone])
        cutoff = dt.date.fromisoformat(latest[:10])  # keeps the newest day's messages
        old = [m for m in by_phone[phone] if m["sent_at"] < _midnight(cutoff)]
        if not old:
            return None
        c = contacts[phone]
        name = f"{c['first_name']} {c['last_name']}"
        return TaskSpec(
            instruction=f"Delete all the texts between me and {name} that were sent before {cutoff.isoformat()}. "
                        "How many did you delete?",
            supervisor=person.id,
            call=f"delete_texts_with_contact_before(contact_name={name!r}, before={cutoff.isoformat()!r})",
            expect=tuple(Expect("phone", "messages", "delete", match={"id": m["id"]}) for m in old),
            answer=len(old),
        )

    return _first_three(data, rng, make, relaxed=True)


# ---------------------------------------------------------------------------------------
# calendar: decline the pending invitations from one organiser

_DECLINE_SKILL = '''
def decline_invitations_from(organizer_email: str) -> int:
    """Decline every upcoming invitation still awaiting an answer from `organizer_email`.

    Returns how many invitations were declined.
    """
    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
    token = apis.calendar.login(username=profile["email"], password=passwords["calendar"])["access_token"]
    pending = []
    page = 0
    while True:
        batch = apis.calendar.show_invitations(access_token=token, page_index=page, page_limit=20)
        if not batch:
            break
        pending.extend(e for e in batch if e["organizer"].lower() == organizer_email.lower())
        page += 1
    # collect first, then answer: answered invitations drop out of the pages
    for event in pending:
        apis.calendar.rsvp_event(access_token=token, event_id=event["id"], response="declined")
    return len(pending)
'''


def _build_decline(data: Any, rng: random.Random) -> list[TaskSpec]:
    now = NOW.isoformat()

    def make(person: Any) -> TaskSpec | None:
        by_org: dict[str, list[dict]] = {}
        for e in data.rows_of("calendar", "events", person.id):
            if e["my_rsvp"] == "pending" and e["status"] == "confirmed" and e["start"] >= now:
                by_org.setdefault(e["organizer"], []).append(e)
        if not by_org or max(map(len, by_org.values())) < 2:
            return None
        org = _most(rng, by_org)
        who = next(p for p in data.people if p.email == org)
        return TaskSpec(
            instruction=(f"Decline all the upcoming calendar invitations from {who.full_name} ({org}) that I haven't "
                         "answered yet, and tell me how many you declined."),
            supervisor=person.id,
            call=f"decline_invitations_from(organizer_email={org!r})",
            expect=tuple(Expect("calendar", "events", "update", match={"id": e["id"], "my_rsvp": "declined"},
                                only_fields=frozenset({"my_rsvp", "attendees"})) for e in by_org[org]),
            answer=len(by_org[org]),
        )

    return _first_three(data, rng, make)


# ---------------------------------------------------------------------------------------
# calendar: push a series of events back

_PUSH_BACK_SKILL = '''
def push_back_events(title: str, minutes: int, from_date: str) -> int:
    """Move every confirmed event titled `title` that the supervisor organises and that starts
    on or after `from_date` (YYYY-MM-DD) later by `minutes`, keeping its length.

    Returns how many events were moved.
    """
    import datetime as dt

    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
    token = apis.calendar.login(username=profile["email"], password=passwords["calendar"])["access_token"]
    cutoff = dt.datetime.fromisoformat(from_date).replace(tzinfo=dt.timezone.utc)
    events = []
    page = 0
    while True:
        batch = apis.calendar.show_events(
            access_token=token, query=title, my_rsvp="organizer", status="confirmed", start_after=from_date,
            page_index=page, page_limit=20,
        )
        if not batch:
            break
        events.extend(
            e for e in batch
            if e["title"].lower() == title.lower() and dt.datetime.fromisoformat(e["start"]) >= cutoff
        )
        page += 1
    shift = dt.timedelta(minutes=minutes)
    for event in events:
        start = dt.datetime.fromisoformat(event["start"]) + shift
        end = dt.datetime.fromisoformat(event["end"]) + shift
        apis.calendar.reschedule_event(
            access_token=token, event_id=event["id"], start=start.isoformat(), end=end.isoformat()
        )
    return len(events)
'''


def _build_push_back(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        series: dict[str, list[dict]] = {}
        for e in data.rows_of("calendar", "events", person.id):
            if e["my_rsvp"] == "organizer" and e["status"] == "confirmed":
                series.setdefault(e["title"], []).append(e)
        titles = sorted(t for t, es in series.items() if len(es) >= 4)
        if not titles:
            return None
        title = rng.choice(titles)
        from_day = TODAY + dt.timedelta(days=rng.randrange(0, 4))
        hits = [e for e in series[title] if e["start"] >= _midnight(from_day)]
        if len(hits) < 2:
            return None
        minutes = rng.choice((15, 30, 45, 60, 90))
        shift = dt.timedelta(minutes=minutes)

        def moved(e: dict) -> dict:
            return {"id": e["id"],
                    "start": (dt.datetime.fromisoformat(e["start"]) + shift).isoformat(),
                    "end": (dt.datetime.fromisoformat(e["end"]) + shift).isoformat()}

        return TaskSpec(
            instruction=(f"Push every \"{title}\" event I organise from {from_day.isoformat()} onwards back by {minutes} "
                         "minutes, keeping their lengths (leave cancelled ones alone). How many events did you move?"),
            supervisor=person.id,
            call=f"push_back_events(title={title!r}, minutes={minutes}, from_date={from_day.isoformat()!r})",
            expect=tuple(Expect("calendar", "events", "update", match=moved(e), only_fields=frozenset({"start", "end"}))
                         for e in hits),
            answer=len(hits),
        )

    return _first_three(data, rng, make)


def _scenario(id: str, apps: tuple[str, ...], difficulty: int, split: str, skill_name: str, source: str,
              build: Callable[[Any, random.Random], list[TaskSpec]], explore: str, description: str) -> ScenarioDef:
    return ScenarioDef(id=id, apps=apps, difficulty=difficulty, split=split, skill_name=skill_name, skill_source=source,
                       build=build, explore_block=explore, description=description)


SCENARIOS += [
    # train
    _scenario("phone_text_relationship", ("phone",), 1, "train", "text_contacts_with_relationship", _TEXT_RELATION_SKILL,
              _build_text_relation, _docs("phone", "search_contacts", "send_text_message"),
              "Page through contacts with a relationship label and text each one."),
    _scenario("phone_read_texts_from", ("phone",), 1, "train", "mark_texts_from_contact_read", _READ_TEXTS_SKILL,
              _build_read_texts, _docs("phone", "search_contacts", "search_text_messages", "mark_text_message_read"),
              "Find a contact's number, page through their unread texts and mark each read."),
    _scenario("mail_archive_from_sender", ("mail",), 1, "train", "archive_inbox_emails_from", _ARCHIVE_SKILL,
              _build_archive, _docs("mail", "show_emails", "move_email"),
              "Collect a sender's inbox emails across pages, then archive them."),
    _scenario("mail_attachment_names_to_file", ("mail", "files"), 2, "train", "save_attachment_names", _ATTACHMENTS_SKILL,
              _build_attachments, _docs("mail", "show_emails") + "\n" + _docs("files", "write_file"),
              "Gather attachment names from one sender's emails and save them to a file."),
    _scenario("todo_complete_tagged", ("todo",), 1, "train", "complete_open_tasks_with_tag", _COMPLETE_TAGGED_SKILL,
              _build_complete_tagged, _docs("todo", "show_tasks", "mark_task_completed"),
              "Collect open tasks with a tag, then complete each."),
    _scenario("todo_overdue_shared_text", ("todo", "phone"), 3, "train", "text_overdue_task_collaborators", _OVERDUE_TEXT_SKILL,
              _build_overdue_text, _docs("todo", "show_tasks") + "\n" + _docs("phone", "search_contacts", "send_text_message"),
              "Find overdue shared tasks and text each collaborator, looking their numbers up by email."),
    _scenario("files_delete_extension", ("files",), 1, "train", "delete_files_with_extension", _DELETE_EXT_SKILL,
              _build_delete_ext, _docs("files", "search_files", "delete_file"),
              "Collect files of a type under a folder, then delete them."),
    _scenario("files_total_size", ("files",), 1, "train", "total_size_of_files", _TOTAL_SIZE_SKILL,
              _build_total_size, _docs("files", "search_files"),
              "Sum the sizes of files of one type under a folder across pages."),
    # dev
    _scenario("calendar_cancel_day", ("calendar",), 2, "dev", "cancel_my_events_on", _CANCEL_DAY_SKILL,
              _build_cancel_day, _docs("calendar", "show_day", "cancel_event"),
              "Cancel the events one organises on a given day."),
    _scenario("notes_email_to_contact", ("notes", "phone", "mail"), 2, "dev", "email_note_to_contact", _EMAIL_NOTE_SKILL,
              _build_email_note, _docs("notes", "show_notes") + "\n" + _docs("phone", "search_contacts") + "\n" + _docs("mail", "send_email"),
              "Email a note to a contact whose address is in the phone."),
    _scenario("phone_text_missed_callers", ("phone",), 2, "dev", "text_missed_callers", _MISSED_CALLS_SKILL,
              _build_missed_calls, _docs("phone", "show_call_log", "search_contacts", "send_text_message"),
              "Text each known contact whose call was missed since a date."),
    # test_normal
    _scenario("mail_label_by_subject", ("mail",), 1, "test_normal", "label_emails_with_subject", _LABEL_SUBJECT_SKILL,
              _build_label_subject, _docs("mail", "show_emails", "add_label"),
              "Label every email whose subject mentions a word."),
    _scenario("todo_priority_note", ("todo", "notes"), 2, "test_normal", "note_open_high_priority_tasks", _PRIORITY_NOTE_SKILL,
              _build_priority_note, _docs("todo", "show_tasks") + "\n" + _docs("notes", "create_note"),
              "Write a note listing open high-priority tasks due soon."),
    _scenario("files_backup_copy", ("files",), 2, "test_normal", "backup_files", _BACKUP_SKILL,
              _build_backup, _docs("files", "list_directory", "create_directory", "copy_file"),
              "Copy a folder's files of one type into a new backup folder."),
    _scenario("phone_delete_old_texts", ("phone",), 2, "test_normal", "delete_texts_with_contact_before", _DELETE_TEXTS_SKILL,
              _build_delete_texts, _docs("phone", "search_contacts", "search_text_messages", "delete_text_message"),
              "Delete the texts with a contact sent before a date."),
    # test_challenge (calendar: an app no train scenario touches)
    _scenario("calendar_decline_from_organizer", ("calendar",), 2, "test_challenge", "decline_invitations_from", _DECLINE_SKILL,
              _build_decline, _docs("calendar", "show_invitations", "rsvp_event"),
              "Decline the unanswered invitations from one organiser."),
    _scenario("calendar_push_back_series", ("calendar",), 3, "test_challenge", "push_back_events", _PUSH_BACK_SKILL,
              _build_push_back, _docs("calendar", "show_events", "reschedule_event"),
              "Shift every upcoming event of a series later by some minutes."),
]
