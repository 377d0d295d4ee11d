"""Scenarios that join apps no other module combines: the money apps with `phone` and
`mail`, `mail` with `todo`, and `music` with `phone`.

`music` stays out of train here on purpose: the music scenarios of `media_commerce` in
test_challenge are there to test an app unseen in training, and one train scenario
touching `music` would take that away from them.

Every task is built from the seeded data: supervisors and parameters are picked where the
task is meaningful (several records to act on, people reachable through the contacts).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from skillbank.worlds.apps.scenario import ScenarioDef, TaskSpec
from skillbank.worlds.engine.api import TODAY
from skillbank.worlds.engine.grading import Expect

# ---------------------------------------------------------------------------------------
# shared pieces of skill source

_LOGIN = '''    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
'''
_TOKENS = {
    "PHONE": '    phone = apis.phone.login(username=profile["phone"], password=passwords["phone"])["access_token"]\n',
    "MAIL": '    mail = apis.mail.login(username=profile["email"], password=passwords["mail"])["access_token"]\n',
    "WALLET": '    wallet = apis.wallet.login(username=profile["email"], password=passwords["wallet"])["access_token"]\n',
    "TODO": '    todo = apis.todo.login(username=profile["email"], password=passwords["todo"])["access_token"]\n',
    "MUSIC": '    music = apis.music.login(username=profile["email"], password=passwords["music"])["access_token"]\n',
    "SPLITBILL": ('    splitbill = apis.splitbill.login(username=profile["email"], '
                  'password=passwords["splitbill"])["access_token"]\n'),
}
# A phone number from the contact whose email is given: the contacts are the only place
# that links a wallet or splitbill user (known by email) to a number.
_PHONE_BY_EMAIL = '''    def phone_number_of(email: str) -> str:
        page = 0
        while True:
            batch = apis.phone.search_contacts(access_token=phone, query=email, page_index=page, page_limit=20)
            if not batch:
                raise ValueError(f"no phone contact with email {email}")
            for contact in batch:
                if (contact["email"] or "").lower() == email.lower():
                    return contact["phone"]
            page += 1
'''


def _skill(source: str) -> str:
    source = source.replace("{LOGIN}\n", _LOGIN).replace("{PHONE_BY_EMAIL}\n", _PHONE_BY_EMAIL)
    for key, line in _TOKENS.items():
        source = source.replace("{" + key + "}\n", line)
    return source


def _explore(*pairs: tuple[str, str]) -> str:
    lines = [f'print(apis.api_docs.show_api_descriptions(app_name="{app}"))' for app in dict.fromkeys(a for a, _ in pairs)]
    lines += [f'print(apis.api_docs.show_api_doc(app_name="{app}", api_name="{api}"))' for app, api in pairs]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# reading the base data (builders only)


def _get(data: Any, app: str, table: str, rid: str) -> dict[str, Any]:
    return data.base.tables[(app, table)].rows[rid]


def _dollars(cents: int) -> str:
    return f"${cents / 100:.2f}"


def _day(iso_date: str) -> str:
    d = dt.date.fromisoformat(iso_date[:10])
    return f"{d:%B} {d.day}, {d.year}"


def _ago(days: int) -> str:
    return (TODAY - dt.timedelta(days=days)).isoformat()


def _shuffled(data: Any, rng: random.Random) -> list[Any]:
    people = list(data.people)
    rng.shuffle(people)
    return people


def _pick(people: Iterable[Any], make: Callable[..., TaskSpec | None], n: int = 3, *, relaxed: bool = False) -> list[TaskSpec]:
    """The first `n` people who give a task. With `relaxed`, when too few do, a second pass
    calls ``make(person, relaxed=True)`` on the others, so every seed builds (seeds that
    built before keep exactly their tasks)."""
    people = list(people)
    specs: list[TaskSpec] = []
    used: set[str] = set()
    for person in people:
        spec = make(person)
        if spec is not None:
            specs.append(spec)
            used.add(person.id)
            if len(specs) == n:
                return specs
    if relaxed:
        for person in people:
            if person.id in used:
                continue
            spec = make(person, relaxed=True)
            if spec is not None:
                specs.append(spec)
                if len(specs) == n:
                    break
    return specs


def _contact_phones(data: Any, pid: str) -> dict[str, str]:
    """The person's phone contacts that have an email: email -> phone number."""
    return {c["email"].lower(): c["phone"] for c in data.rows_of("phone", "contacts", pid) if c["email"]}


def _person_by_email(data: Any, email: str) -> Any:
    return next(p for p in data.people if p.email.lower() == email.lower())


def _text_expects(data: Any, sender: Any, phone_number: str, content: str) -> list[Expect]:
    """A text is two records: the sender's copy and the recipient's (everyone texted here
    lives in the world)."""
    recipient = next(p for p in data.people if p.phone == phone_number)
    return [
        Expect("phone", "messages", "insert",
               match={"owner_id": sender.id, "direction": "sent", "recipient_phone": phone_number, "content": content},
               label=f"text to {recipient.full_name}: {content!r}"),
        Expect("phone", "messages", "insert",
               match={"owner_id": recipient.id, "direction": "received", "sender_phone": sender.phone, "content": content},
               label=f"{recipient.full_name} receives the text"),
    ]


def _email_expects(sender: Any, recipient: Any, subject: str, body: str) -> list[Expect]:
    return [
        Expect("mail", "emails", "insert", match={"owner_id": sender.id, "folder": "sent", "recipients": [recipient.email],
                                                  "cc": [], "subject": subject, "body": body},
               label=f"email {subject!r} to {recipient.full_name}"),
        Expect("mail", "emails", "insert", match={"owner_id": recipient.id, "folder": "inbox", "subject": subject, "body": body},
               label=f"{recipient.full_name} receives {subject!r}"),
    ]


_RELATION = {"family": "family member", "friend": "friend", "coworker": "coworker", "roommate": "roommate"}


# ---------------------------------------------------------------------------------------
# wallet + phone: text a thank-you to everyone who paid me (train)

_TEXT_THANKS = '''
def text_thanks_to_payers(since: str) -> int:
    """Text everyone who paid the supervisor on wallet on or after `since` (YYYY-MM-DD) one
    thank-you naming the total they sent in that time: 'Thanks for the $<total>, <first name>!'.
    Numbers come from the phone contact with the payer's email. Returns how many were texted."""
{LOGIN}
{WALLET}
{PHONE}
{PHONE_BY_EMAIL}
    totals = {}
    names = {}
    page = 0
    while True:
        batch = apis.wallet.show_transactions(access_token=wallet, direction="received", start_date=since,
                                              page_index=page, page_limit=20)
        if not batch:
            break
        for payment in batch:
            totals[payment["sender_email"]] = totals.get(payment["sender_email"], 0) + payment["amount_cents"]
            names[payment["sender_email"]] = payment["sender_name"]
        page += 1
    for email, cents in totals.items():
        first_name = names[email].split()[0]
        apis.phone.send_text_message(access_token=phone, phone_number=phone_number_of(email),
                                     content=f"Thanks for the ${cents / 100:.2f}, {first_name}!")
    return len(totals)
'''


def _build_text_thanks(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        since = _ago(rng.randrange(7, 30))
        totals: Counter[str] = Counter()
        for i in data.rows_of("wallet", "txn_index", person.id):
            if i["direction"] == "received" and i["created_at"][:10] >= since:
                totals[i["counterparty_id"]] += _get(data, "wallet", "transactions", i["transaction_id"])["amount_cents"]
        phones = _contact_phones(data, person.id)
        payers = [data.person(o) for o in totals]
        if not 2 <= len(payers) <= 8 or any(p.email.lower() not in phones for p in payers):
            return None
        expect = [e for p in payers
                  for e in _text_expects(data, person, phones[p.email.lower()],
                                         f"Thanks for the {_dollars(totals[p.id])}, {p.first_name}!")]
        return TaskSpec(
            instruction=f"Text everyone who paid me on wallet since {_day(since)} a thank-you naming the total they sent me "
                        "in that time, exactly like \"Thanks for the $42.50, Maya!\" (with their first name), one text per "
                        "person. Their numbers are in my phone contacts. How many people did you text?",
            supervisor=person.id,
            call=f"text_thanks_to_payers(since={since!r})",
            expect=tuple(expect),
            answer=len(payers),
        )

    return _pick(_shuffled(data, rng), make)


# ---------------------------------------------------------------------------------------
# wallet + mail: email friends a reminder of what they still owe me (train)

_EMAIL_REMINDERS = '''
def email_friends_pending_requests(subject: str) -> int:
    """Email each wallet friend who has pending payment requests from the supervisor one
    reminder with the total: subject `subject`, body 'Hi <first name>, a friendly reminder
    that you still owe me $<total> on wallet. Thanks!'. Requests to people who are not
    wallet friends are left alone. Returns how many emails were sent."""
{LOGIN}
{WALLET}
{MAIL}
    friends = set()
    page = 0
    while True:
        batch = apis.wallet.show_friends(access_token=wallet, page_index=page, page_limit=20)
        if not batch:
            break
        friends.update(f["email"].lower() for f in batch)
        page += 1
    owed = {}
    names = {}
    page = 0
    while True:
        batch = apis.wallet.show_payment_requests(access_token=wallet, direction="outgoing", status="pending",
                                                  page_index=page, page_limit=20)
        if not batch:
            break
        for request in batch:
            email = request["payer_email"].lower()
            if email in friends:
                owed[email] = owed.get(email, 0) + request["amount_cents"]
                names[email] = request["payer_name"]
        page += 1
    for email, cents in owed.items():
        first_name = names[email].split()[0]
        body = f"Hi {first_name}, a friendly reminder that you still owe me ${cents / 100:.2f} on wallet. Thanks!"
        apis.mail.send_email(access_token=mail, recipients=[email], subject=subject, body=body)
    return len(owed)
'''


def _build_email_reminders(data: Any, rng: random.Random) -> list[TaskSpec]:
    subjects = ("Payment reminder", "Quick reminder about wallet", "Friendly money reminder")

    def make(person: Any, relaxed: bool = False) -> TaskSpec | None:
        friends = {f["friend_id"] for f in data.rows_of("wallet", "friends", person.id)}
        owed: Counter[str] = Counter()
        requests: Counter[str] = Counter()
        strangers = 0
        for i in data.rows_of("wallet", "request_index", person.id):
            r = _get(data, "wallet", "requests", i["request_id"])
            if r["requester_id"] != person.id or r["status"] != "pending":
                continue
            if r["payer_id"] in friends:
                owed[r["payer_id"]] += r["amount_cents"]
                requests[r["payer_id"]] += 1
            else:
                strangers += 1
        # a request to a non-friend must be there to skip, and one friend with several to add up
        if relaxed:  # settle for a friend to email and either a second friend or a stranger to skip
            if not owed or (len(owed) < 2 and not strangers):
                return None
        elif len(owed) < 2 or not strangers or max(requests.values()) < 2:
            return None
        subject = rng.choice(subjects)
        expect = []
        for pid, cents in owed.items():
            p = data.person(pid)
            body = f"Hi {p.first_name}, a friendly reminder that you still owe me {_dollars(cents)} on wallet. Thanks!"
            expect += _email_expects(person, p, subject, body)
        return TaskSpec(
            instruction=f"Email each of my wallet friends who still has pending payment requests from me one reminder with "
                        f"the subject \"{subject}\" and the body \"Hi <first name>, a friendly reminder that you still owe "
                        "me $<total of their pending requests> on wallet. Thanks!\". Leave people who aren't my wallet "
                        "friends alone. How many emails did you send?",
            supervisor=person.id,
            call=f"email_friends_pending_requests(subject={subject!r})",
            expect=tuple(expect),
            answer=len(owed),
        )

    return _pick(_shuffled(data, rng), make, relaxed=True)


# ---------------------------------------------------------------------------------------
# mail + todo: a review task for every unread email with attachments (test_normal)

_EMAIL_TASKS = '''
def add_review_tasks_for_attachments(since: str, list_name: str, due_date: str) -> int:
    """Add a high-priority task 'Review: <subject>' due `due_date` (YYYY-MM-DD) to the to-do
    list `list_name` for every unread email in the inbox sent on or after `since`
    (YYYY-MM-DD) that has attachments. The emails stay unread. Returns how many tasks were added."""
{LOGIN}
{MAIL}
{TODO}
    lists = []
    page = 0
    while True:
        batch = apis.todo.show_lists(access_token=todo, query=list_name, page_index=page, page_limit=20)
        if not batch:
            break
        lists.extend(batch)
        page += 1
    todo_list = next(t for t in lists if t["name"].lower() == list_name.lower())
    emails = []
    page = 0
    while True:
        batch = apis.mail.show_emails(access_token=mail, folder="inbox", unread=True, has_attachments=True,
                                      sent_after=since, page_index=page, page_limit=20)
        if not batch:
            break
        emails.extend(batch)
        page += 1
    for email in emails:
        apis.todo.create_task(access_token=todo, list_id=todo_list["id"], title=f"Review: {email['subject']}",
                              due_date=due_date, priority="high")
    return len(emails)
'''


def _build_email_tasks(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any, relaxed: bool = False) -> TaskSpec | None:
        since = _ago(rng.randrange(20, 60))
        if relaxed:  # go back far enough to take in every such email, and settle for two
            unread = [e for e in data.rows_of("mail", "emails", person.id)
                      if e["folder"] == "inbox" and not e["read"] and e["attachments"]]
            if len(unread) < 2:
                return None
            since = min(since, min(e["sent_at"][:10] for e in unread))
        emails = [e for e in data.rows_of("mail", "emails", person.id)
                  if e["folder"] == "inbox" and not e["read"] and e["attachments"] and e["sent_at"][:10] >= since]
        if len(emails) < (2 if relaxed else 4):
            return None
        lists = sorted(data.rows_of("todo", "lists", person.id), key=lambda t: t["name"])
        todo_list = rng.choice(lists)
        due = (TODAY + dt.timedelta(days=rng.randrange(1, 8))).isoformat()
        # two emails can share a subject: each still gets its own task
        titles = Counter(f"Review: {e['subject']}" for e in emails)
        expect = [Expect("todo", "tasks", "insert", match={
            "owner_id": person.id, "list_id": todo_list["id"], "title": title, "due_date": due,
            "priority": "high", "completed": False,
        }, count=n, label=f"{n} task(s) {title!r}") for title, n in sorted(titles.items())]
        return TaskSpec(
            instruction=f"For every unread email in my inbox since {_day(since)} that has attachments, add a high-priority "
                        f"task \"Review: <email subject>\" to my \"{todo_list['name']}\" to-do list, due {_day(due)}. "
                        "Keep the emails unread. How many tasks did you add?",
            supervisor=person.id,
            call=f"add_review_tasks_for_attachments(since={since!r}, list_name={todo_list['name']!r}, due_date={due!r})",
            expect=tuple(expect),
            answer=len(emails),
        )

    return _pick(_shuffled(data, rng), make, relaxed=True)


# ---------------------------------------------------------------------------------------
# splitbill + phone: text everyone who owes me in a group (dev)

_TEXT_DEBTORS = '''
def text_group_debtors(group_name: str) -> int:
    """Text every member who owes the supervisor money in the splitbill group `group_name`:
    'Hi <first name>, you owe me $<amount> in <group name> on splitbill.' Numbers come from
    the phone contact with the member's email. Returns how many were texted."""
{LOGIN}
{SPLITBILL}
{PHONE}
{PHONE_BY_EMAIL}
    groups = []
    page = 0
    while True:
        batch = apis.splitbill.show_groups(access_token=splitbill, query=group_name, page_index=page, page_limit=20)
        if not batch:
            break
        groups.extend(batch)
        page += 1
    group = next(g for g in groups if g["name"].lower() == group_name.lower())
    balances = apis.splitbill.show_balances(access_token=splitbill, group_id=group["id"])
    for debt in balances["owed_to_you"]:
        first_name = debt["name"].split()[0]
        apis.phone.send_text_message(
            access_token=phone, phone_number=phone_number_of(debt["email"]),
            content=f"Hi {first_name}, you owe me ${debt['amount_cents'] / 100:.2f} in {group['name']} on splitbill.",
        )
    return len(balances["owed_to_you"])
'''


def _owed_to(data: Any, group_id: str, me: str) -> dict[str, int]:
    """What each member of the group owes `me`, net of settlements (only positive debts)."""
    net: dict[str, int] = {}
    for e in data.rows_of("splitbill", "expenses", group_id):
        if e["paid_by"] == me:
            for pid, c in e["shares"].items():
                if pid != me:
                    net[pid] = net.get(pid, 0) + c
        elif me in e["shares"]:
            net[e["paid_by"]] = net.get(e["paid_by"], 0) - e["shares"][me]
    for s in data.rows_of("splitbill", "settlements", group_id):
        if s["from_id"] == me:
            net[s["to_id"]] = net.get(s["to_id"], 0) + s["amount_cents"]
        elif s["to_id"] == me:
            net[s["from_id"]] = net.get(s["from_id"], 0) - s["amount_cents"]
    return {pid: c for pid, c in net.items() if c > 0}


def _build_text_debtors(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        groups = [_get(data, "splitbill", "groups", m["group_id"]) for m in data.rows_of("splitbill", "memberships", person.id)]
        names = Counter(g["name"].lower() for g in groups)
        phones = _contact_phones(data, person.id)
        candidates = []
        for g in sorted(groups, key=lambda g: g["name"]):
            owed = _owed_to(data, g["id"], person.id)
            # the name must find one group, and every debtor must be reachable by phone
            if names[g["name"].lower()] == 1 and len(owed) >= 2 and all(data.person(o).email.lower() in phones for o in owed):
                candidates.append((g, owed))
        if not candidates:
            return None
        g, owed = max(candidates, key=lambda c: (len(c[1]), rng.random()))
        expect = []
        for pid, cents in owed.items():
            p = data.person(pid)
            content = f"Hi {p.first_name}, you owe me {_dollars(cents)} in {g['name']} on splitbill."
            expect += _text_expects(data, person, phones[p.email.lower()], content)
        return TaskSpec(
            instruction=f"Text everyone who owes me money in my splitbill group \"{g['name']}\" what they owe, like "
                        f"\"Hi Maya, you owe me $12.50 in {g['name']} on splitbill.\" Their numbers are in my phone "
                        "contacts. How many people did you text?",
            supervisor=person.id,
            call=f"text_group_debtors(group_name={g['name']!r})",
            expect=tuple(expect),
            answer=len(owed),
        )

    return _pick(_shuffled(data, rng), make)


# ---------------------------------------------------------------------------------------
# music: a playlist of every song by my most played artist (dev)

_TOP_ARTIST_PLAYLIST = '''
def playlist_of_top_artist(since: str, title: str) -> str:
    """Create a private playlist titled `title` with every catalogue song by the artist the
    supervisor played most on or after `since` (YYYY-MM-DD). Returns the artist's name."""
{LOGIN}
{MUSIC}
    plays = {}
    artist_names = {}
    page = 0
    while True:
        batch = apis.music.show_play_history(access_token=music, since=since, page_index=page, page_limit=20)
        if not batch:
            break
        for play in batch:
            plays[play["artist_id"]] = plays.get(play["artist_id"], 0) + 1
            artist_names[play["artist_id"]] = play["artist_name"]
        page += 1
    artist_id = max(plays, key=plays.get)
    song_ids = []
    page = 0
    while True:
        batch = apis.music.search_songs(access_token=music, artist_id=artist_id, page_index=page, page_limit=20)
        if not batch:
            break
        song_ids.extend(s["id"] for s in batch)
        page += 1
    apis.music.create_playlist(access_token=music, title=title, is_public=False, song_ids=song_ids)
    return artist_names[artist_id]
'''


def _build_top_artist_playlist(data: Any, rng: random.Random) -> list[TaskSpec]:
    songs = {s["id"]: s for s in data.rows("music", "songs")}
    artists = {a["id"]: a for a in data.rows("music", "artists")}
    titles = ("On repeat", "Current obsession", "Deep dive", "All the hits")

    def make(person: Any) -> TaskSpec | None:
        since = _ago(rng.choice((10, 14, 21, 30)))
        plays = Counter(songs[h["song_id"]]["artist_id"] for h in data.rows_of("music", "history", person.id)
                        if h["played_at"][:10] >= since)
        top = plays.most_common(2)
        # the top artist must be unambiguous, and the history must span more than one page
        if sum(plays.values()) <= 20 or len(top) < 2 or top[0][1] == top[1][1]:
            return None
        taken = {p["title"].lower() for p in data.rows_of("music", "playlists", person.id)}
        free = [t for t in titles if t.lower() not in taken]
        if not free:
            return None
        title = rng.choice(free)
        artist = artists[top[0][0]]
        catalogue = [s["id"] for s in data.rows_of("music", "songs", artist["id"])]
        return TaskSpec(
            instruction=f"Find the artist I've played the most since {_day(since)} and make a private music playlist titled "
                        f"\"{title}\" with every song of theirs in the catalogue. Which artist was it?",
            supervisor=person.id,
            call=f"playlist_of_top_artist(since={since!r}, title={title!r})",
            expect=(Expect("music", "playlists", "insert", match={
                "owner_id": person.id, "title": title, "is_public": False, "song_ids": catalogue,
            }, label=f"a private playlist {title!r} with the artist's {len(catalogue)} songs"),),
            answer=artist["name"],
        )

    return _pick(_shuffled(data, rng), make)


# ---------------------------------------------------------------------------------------
# music + phone: text someone my most played songs (test_challenge)

_TEXT_TOP_SONGS = '''
def text_top_songs(contact_name: str, since: str, top_n: int) -> str:
    """Text the phone contact named `contact_name` the supervisor's `top_n` most played songs
    on or after `since` (YYYY-MM-DD), most plays first and ties by title:
    'My top songs lately: <title> by <artist>; <title> by <artist>; ...'. Returns the text."""
{LOGIN}
{MUSIC}
{PHONE}
    plays = {}
    songs = {}
    page = 0
    while True:
        batch = apis.music.show_play_history(access_token=music, since=since, page_index=page, page_limit=20)
        if not batch:
            break
        for play in batch:
            plays[play["song_id"]] = plays.get(play["song_id"], 0) + 1
            songs[play["song_id"]] = play
        page += 1
    ranked = sorted(plays, key=lambda s: (-plays[s], songs[s]["title"]))[:top_n]
    content = "My top songs lately: " + "; ".join(f"{songs[s]['title']} by {songs[s]['artist_name']}" for s in ranked)
    phone_number = None
    page = 0
    while phone_number is None:
        batch = apis.phone.search_contacts(access_token=phone, query=contact_name, page_index=page, page_limit=20)
        if not batch:
            raise ValueError(f"no contact named {contact_name!r}")
        for contact in batch:
            if f"{contact['first_name']} {contact['last_name']}".lower() == contact_name.lower():
                phone_number = contact["phone"]
                break
        page += 1
    apis.phone.send_text_message(access_token=phone, phone_number=phone_number, content=content)
    return content
'''


def _build_text_top_songs(data: Any, rng: random.Random) -> list[TaskSpec]:
    songs = {s["id"]: s for s in data.rows("music", "songs")}

    def make(person: Any) -> TaskSpec | None:
        since = _ago(rng.choice((14, 21, 30, 45)))
        top_n = rng.choice((3, 4, 5))
        plays = Counter(h["song_id"] for h in data.rows_of("music", "history", person.id) if h["played_at"][:10] >= since)
        if sum(plays.values()) <= 20:
            return None
        ranked = sorted(plays, key=lambda s: (-plays[s], songs[s]["title"]))[:top_n]
        contacts = sorted((c for c in data.rows_of("phone", "contacts", person.id) if c["relationship"] in _RELATION),
                          key=lambda c: c["id"])
        full_names = Counter(f"{c['first_name']} {c['last_name']}".lower() for c in contacts)
        contacts = [c for c in contacts if full_names[f"{c['first_name']} {c['last_name']}".lower()] == 1]
        if not contacts:
            return None
        contact = rng.choice(contacts)
        name = f"{contact['first_name']} {contact['last_name']}"
        content = "My top songs lately: " + "; ".join(f"{songs[s]['title']} by {songs[s]['artist_name']}" for s in ranked)
        return TaskSpec(
            instruction=f"Text my {_RELATION[contact['relationship']]} {name} my {top_n} most played songs since "
                        f"{_day(since)}, most plays first and ties in alphabetical order of title, exactly as "
                        "\"My top songs lately: <title> by <artist>; <title> by <artist>; ...\". "
                        "Tell me the text you sent.",
            supervisor=person.id,
            call=f"text_top_songs(contact_name={name!r}, since={since!r}, top_n={top_n})",
            expect=tuple(_text_expects(data, person, contact["phone"], content)),
            answer=content,
        )

    return _pick(_shuffled(data, rng), make)


# ---------------------------------------------------------------------------------------

SCENARIOS: list[ScenarioDef] = [
    ScenarioDef("wallet_text_thanks_to_payers", ("wallet", "phone"), 2, "train", "text_thanks_to_payers",
                _skill(_TEXT_THANKS), _build_text_thanks,
                _explore(("wallet", "show_transactions"), ("phone", "search_contacts"), ("phone", "send_text_message")),
                "Total the payments received since a date per sender and text each sender a thank-you."),
    ScenarioDef("wallet_email_friend_reminders", ("wallet", "mail"), 2, "train", "email_friends_pending_requests",
                _skill(_EMAIL_REMINDERS), _build_email_reminders,
                _explore(("wallet", "show_friends"), ("wallet", "show_payment_requests"), ("mail", "send_email")),
                "Total the pending requests per friend across pages and email each friend a reminder."),
    ScenarioDef("mail_attachments_to_todo", ("mail", "todo"), 2, "test_normal", "add_review_tasks_for_attachments",
                _skill(_EMAIL_TASKS), _build_email_tasks,
                _explore(("mail", "show_emails"), ("todo", "show_lists"), ("todo", "create_task")),
                "Turn unread inbox emails with attachments into to-do tasks, leaving the emails unread."),
    ScenarioDef("splitbill_text_debtors", ("splitbill", "phone"), 3, "dev", "text_group_debtors",
                _skill(_TEXT_DEBTORS), _build_text_debtors,
                _explore(("splitbill", "show_groups"), ("splitbill", "show_balances"), ("phone", "search_contacts"),
                         ("phone", "send_text_message")),
                "Text each member who owes you in a group the amount, numbers from the contacts."),
    ScenarioDef("music_top_artist_playlist", ("music",), 2, "dev", "playlist_of_top_artist",
                _skill(_TOP_ARTIST_PLAYLIST), _build_top_artist_playlist,
                _explore(("music", "show_play_history"), ("music", "search_songs"), ("music", "create_playlist")),
                "Count plays per artist across pages, then put the top artist's whole catalogue in a playlist."),
    ScenarioDef("music_text_top_songs", ("music", "phone"), 3, "test_challenge", "text_top_songs",
                _skill(_TEXT_TOP_SONGS), _build_text_top_songs,
                _explore(("music", "show_play_history"), ("phone", "search_contacts"), ("phone", "send_text_message")),
                "Rank songs by plays since a date and text the top ones to a contact."),
]
