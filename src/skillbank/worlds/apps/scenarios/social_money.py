"""Scenarios over the money apps: `wallet` (payments, requests, friends) and `splitbill`
(shared group expenses), alone and combined with each other and with `notes`.

Every task is built from the seeded data: supervisors and parameters are picked where the
task is meaningful (something to change, and something nearby that must be left alone).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from skillbank.worlds.apps.apps.splitbill import equal_shares
from skillbank.worlds.apps.scenario import FundedBalance, ScenarioDef, TaskSpec
from skillbank.worlds.engine.answers import normalise_text
from skillbank.worlds.engine.api import NOW_ISO, TODAY
from skillbank.worlds.engine.grading import Expect

# ---------------------------------------------------------------------------------------
# shared pieces of skill source

_LOGIN = '''    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
'''
_WALLET = '''    wallet = apis.wallet.login(username=profile["email"], password=passwords["wallet"])["access_token"]
'''
_SPLITBILL = '''    splitbill = apis.splitbill.login(username=profile["email"], password=passwords["splitbill"])["access_token"]
'''
_NOTES = '''    notes = apis.notes.login(username=profile["email"], password=passwords["notes"])["access_token"]
'''
_FIND_GROUP = '''    groups = []
    page = 0
    while True:
        batch = apis.splitbill.show_groups(access_token=splitbill, query=group_name, page_index=page, page_limit=20)
        if not batch:
            break
        groups.extend(batch)
        page += 1
    group = next(g for g in groups if g["name"].lower() == group_name.lower())
'''


def _skill(source: str) -> str:
    return (source.replace("{LOGIN}\n", _LOGIN).replace("{WALLET}\n", _WALLET).replace("{SPLITBILL}\n", _SPLITBILL)
            .replace("{NOTES}\n", _NOTES).replace("{FIND_GROUP}\n", _FIND_GROUP))


def _explore(*pairs: tuple[str, str]) -> str:
    lines = []
    for app in dict.fromkeys(a for a, _ in pairs):
        lines.append(f'print(apis.api_docs.show_api_descriptions(app_name="{app}"))')
    for app, api in pairs:
        lines.append(f'print(apis.api_docs.show_api_doc(app_name="{app}", api_name="{api}"))')
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# reading the base data (builders only)


def _get(data: Any, app: str, table: str, rid: str) -> dict[str, Any]:
    return data.base.tables[(app, table)].rows[rid]


def _name(data: Any, pid: str) -> str:
    return data.person(pid).full_name


def _email(data: Any, pid: str) -> str:
    return data.person(pid).email


def _dollars(cents: int) -> str:
    return f"${cents / 100:.2f}"


def _day(iso_date: str) -> str:
    d = dt.date.fromisoformat(iso_date[:10])
    return f"{d:%B} {d.day}, {d.year}"


def _ago(days: int) -> str:
    return (TODAY - dt.timedelta(days=days)).isoformat()


def _txns(data: Any, pid: str, direction: str | None = None) -> list[dict[str, Any]]:
    """The person's payments, each with `direction` and `other` (the counterparty id)."""
    out = []
    for i in data.rows_of("wallet", "txn_index", pid):
        if direction and i["direction"] != direction:
            continue
        t = _get(data, "wallet", "transactions", i["transaction_id"])
        out.append({**t, "direction": i["direction"], "other": i["counterparty_id"]})
    return out


def _requests(data: Any, pid: str, direction: str, status: str | None = "pending") -> list[dict[str, Any]]:
    mine = "payer_id" if direction == "incoming" else "requester_id"
    out = []
    for i in data.rows_of("wallet", "request_index", pid):
        r = _get(data, "wallet", "requests", i["request_id"])
        if r[mine] == pid and (status is None or r["status"] == status):
            out.append(r)
    return out


def _friend_rows(data: Any, pid: str) -> list[dict[str, Any]]:
    return data.rows_of("wallet", "friends", pid)


def _balance(data: Any, pid: str) -> int:
    return data.rows_of("wallet", "accounts", pid)[0]["balance_cents"]


def _shuffled(data: Any, rng: random.Random) -> list[Any]:
    people = list(data.people)
    rng.shuffle(people)
    return people


def _valid_cards(data: Any, pid: str) -> frozenset[str]:
    """The wallet cards of `pid` that have not expired (MM/YY) at the frozen clock."""
    now = (TODAY.year % 100, TODAY.month)
    return frozenset(c["id"] for c in data.rows_of("wallet", "cards", pid)
                     if (int(c["expires"][3:]), int(c["expires"][:2])) >= now)


def _payment_expects(data: Any, payments: Iterable[tuple[str, str, int, dict[str, Any]]]) -> list[Any]:
    """Expects for wallet payments (sender, receiver, cents, extra fields): the inserted
    transactions and every account's exact final balance. The instruction names no funding
    source, so a payer may pay from the balance or any of their own valid cards: the
    payer's balance follows how the payments were funded (:class:`FundedBalance`)."""
    payments = list(payments)
    senders = {s for s, _, _, _ in payments}
    cards = {s: _valid_cards(data, s) for s in senders}
    counts = Counter((s, r, c, tuple(sorted(extra.items()))) for s, r, c, extra in payments)
    out: list[Any] = [
        Expect("wallet", "transactions", "insert",
               match={"sender_id": s, "receiver_id": r, "amount_cents": c,
                      "payment_card_id": lambda v, ok=cards[s]: v is None or v in ok, **dict(extra)},
               count=n, label=f"{n} payment(s) of {c} cents from {s} to {r}")
        for (s, r, c, extra), n in counts.items()
    ]
    delta: dict[str, int] = {}
    for s, r, c, _ in payments:
        delta[s] = delta.get(s, 0) - c
        delta[r] = delta.get(r, 0) + c
    for pid in sorted(senders):
        out.append(FundedBalance(pid, _balance(data, pid), cards[pid],
                                 label=f"balance of {pid} drops by the payments it funded (balance or own card)"))
    for pid, d in delta.items():
        if d and pid not in senders:
            final = _balance(data, pid) + d
            out.append(Expect("wallet", "accounts", "update", match={"owner_id": pid, "balance_cents": final},
                              only_fields=frozenset({"balance_cents"}), label=f"balance of {pid} becomes {final} cents"))
    return out


def _lines_equal(expected: list[str], ordered: bool) -> Callable[[Any], bool]:
    def check(content: Any) -> bool:
        if not isinstance(content, str):
            return False
        lines = [ln.strip() for ln in content.strip().splitlines() if ln.strip()]
        return lines == expected if ordered else sorted(lines) == sorted(expected)

    return check


def _note_expect(pid: str, title: str, lines: list[str], ordered: bool) -> Expect:
    return Expect("notes", "notes", "insert", match={"owner_id": pid, "title": title, "content": _lines_equal(lines, ordered)},
                  label=f"a note {title!r} with {len(lines)} line(s)")


def _pick(people: Iterable[Any], make: Callable[[Any], TaskSpec | None], n: int = 3) -> list[TaskSpec]:
    specs: list[TaskSpec] = []
    for person in people:
        spec = make(person)
        if spec is not None:
            specs.append(spec)
            if len(specs) == n:
                break
    return specs


# ---------------------------------------------------------------------------------------
# wallet: total received in a date range (train)

_TOTAL_RECEIVED = '''
def total_received(start_date: str, end_date: str) -> float:
    """Total, in dollars, of the wallet payments the supervisor received between two dates
    (YYYY-MM-DD, both inclusive)."""
{LOGIN}
{WALLET}
    total_cents = 0
    page = 0
    while True:
        batch = apis.wallet.show_transactions(access_token=wallet, direction="received", start_date=start_date,
                                              end_date=end_date, page_index=page, page_limit=20)
        if not batch:
            break
        total_cents += sum(t["amount_cents"] for t in batch)
        page += 1
    return round(total_cents / 100, 2)
'''


def _build_total_received(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        end = _ago(rng.randrange(0, 15))
        start = (dt.date.fromisoformat(end) - dt.timedelta(days=rng.randrange(20, 50))).isoformat()
        hits = [t for t in _txns(data, person.id, "received") if start <= t["created_at"][:10] <= end]
        if len(hits) < 6:
            return None
        return TaskSpec(
            instruction=f"How much money did I receive on wallet between {_day(start)} and {_day(end)}, both days included? "
                        "Answer in dollars.",
            supervisor=person.id,
            call=f"total_received(start_date={start!r}, end_date={end!r})",
            answer=round(sum(t["amount_cents"] for t in hits) / 100, 2),
        )

    return _pick(_shuffled(data, rng), make)


# ---------------------------------------------------------------------------------------
# wallet: decline pending requests from non-friends (train)

_DECLINE_NON_FRIENDS = '''
def decline_requests_from_non_friends(more_than_cents: int = 0) -> int:
    """Decline every pending incoming payment request for more than `more_than_cents` whose
    requester is not one of the supervisor's wallet friends. Returns how many were declined."""
{LOGIN}
{WALLET}
    friends = set()
    page = 0
    while True:
        batch = apis.wallet.show_friends(access_token=wallet, page_index=page, page_limit=20)
        if not batch:
            break
        friends.update(f["email"] for f in batch)
        page += 1
    # collect first: declining changes the 'pending' list we are paging through
    pending = []
    page = 0
    while True:
        batch = apis.wallet.show_payment_requests(access_token=wallet, direction="incoming", status="pending",
                                                  page_index=page, page_limit=20)
        if not batch:
            break
        pending.extend(batch)
        page += 1
    declined = 0
    for request in pending:
        if request["requester_email"] not in friends and request["amount_cents"] > more_than_cents:
            apis.wallet.decline_payment_request(access_token=wallet, request_id=request["id"])
            declined += 1
    return declined
'''


def _build_decline_non_friends(data: Any, rng: random.Random) -> list[TaskSpec]:
    limits = [0, *rng.sample((1500, 2000, 3000, 5000), 2)]

    def make(person: Any) -> TaskSpec | None:
        friends = {f["friend_id"] for f in _friend_rows(data, person.id)}
        pending = _requests(data, person.id, "incoming")
        strangers = [r for r in pending if r["requester_id"] not in friends]
        if not strangers or len(strangers) == len(pending):
            return None
        limit = limits[0]
        hits = [r for r in strangers if r["amount_cents"] > limit]
        if not hits:
            return None
        limits.pop(0)
        what = "every pending payment request" if limit == 0 else f"every pending payment request over {_dollars(limit)}"
        return TaskSpec(
            instruction=f"Decline {what} I've received from people who aren't my wallet friends, "
                        "and tell me how many you declined.",
            supervisor=person.id,
            call="decline_requests_from_non_friends()" if limit == 0 else f"decline_requests_from_non_friends(more_than_cents={limit})",
            expect=tuple(
                Expect("wallet", "requests", "update", match={"id": r["id"], "status": "declined"},
                       only_fields=frozenset({"status", "updated_at"}))
                for r in hits
            ),
            answer=len(hits),
        )

    return _pick(_shuffled(data, rng), make)


# ---------------------------------------------------------------------------------------
# wallet: refund everyone who paid for something (train)

_REFUND = '''
def refund_payments(note_keyword: str, since: str) -> int:
    """Send back, payment by payment, every wallet payment the supervisor received on or after
    `since` (YYYY-MM-DD) whose note mentions `note_keyword`, with the note 'Refund: <keyword>'.
    Returns how many refunds were sent."""
{LOGIN}
{WALLET}
    received = []
    page = 0
    while True:
        batch = apis.wallet.show_transactions(access_token=wallet, direction="received", query=note_keyword,
                                              start_date=since, page_index=page, page_limit=20)
        if not batch:
            break
        received.extend(batch)
        page += 1
    for payment in received:
        apis.wallet.send_money(access_token=wallet, receiver_email=payment["sender_email"],
                               amount_cents=payment["amount_cents"], note=f"Refund: {note_keyword}")
    return len(received)
'''

_EVENTS = ("concert tickets", "cabin deposit", "team lunch", "wedding gift pool", "ski pass", "festival bus")


def _build_refund(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        received = _txns(data, person.id, "received")
        for event in _EVENTS:
            paid = sorted((t for t in received if event in t["note"].lower()), key=lambda t: t["created_at"])
            recent = [t for t in paid if t["created_at"][:10] >= _ago(30)]
            if len(recent) < 2:
                continue
            since = (dt.date.fromisoformat(recent[0]["created_at"][:10]) - dt.timedelta(days=rng.randrange(0, 3))).isoformat()
            hits = [t for t in paid if t["created_at"][:10] >= since]
            if sum(t["amount_cents"] for t in hits) > _balance(data, person.id):
                continue
            note = f"Refund: {event}"
            return TaskSpec(
                instruction=f"The {event} fell through. Refund everyone who paid me for the {event} since {_day(since)}: "
                            f"send each payment back with the note \"{note}\", and tell me how many refunds you sent.",
                supervisor=person.id,
                call=f"refund_payments(note_keyword={event!r}, since={since!r})",
                expect=tuple(_payment_expects(data, [(person.id, t["sender_id"], t["amount_cents"], {"note": note}) for t in hits])),
                answer=len(hits),
            )
        return None

    return _pick(_shuffled(data, rng), make)


# ---------------------------------------------------------------------------------------
# wallet: request an equal share from several people (train)

_REQUEST_SHARE = '''
def request_equal_share(total_cents: int, people: list[str], note: str) -> int:
    """Split `total_cents` equally between the supervisor and `people` (full names), rounding
    each share down to the cent, and send each person a payment request for their share.
    Returns the share in cents."""
{LOGIN}
{WALLET}
    share = total_cents // (len(people) + 1)
    for name in people:
        users = apis.wallet.search_users(access_token=wallet, query=name, page_limit=20)
        email = next(u["email"] for u in users if u["name"].lower() == name.lower())
        apis.wallet.create_payment_request(access_token=wallet, payer_email=email, amount_cents=share, note=note)
    return share
'''

_SHARED_COSTS = ("the cabin cleaning", "the taxi to the airport", "the birthday cake", "the museum tickets",
                 "the dinner at Lupa", "the group gift")


def _build_request_share(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        pals = [o for o, r in person.relationships.items() if r in ("friend", "family", "roommate")]
        if len(pals) < 3:
            return None
        others = rng.sample(pals, rng.randint(2, 3))
        n = len(others) + 1
        total = rng.randrange(3000, 30000)
        if total % n == 0:
            total += 1
        share = total // n
        what = rng.choice(_SHARED_COSTS)
        note = what.removeprefix("the ")
        names = [_name(data, o) for o in others]
        return TaskSpec(
            instruction=f"I paid {_dollars(total)} for {what} for me, {', '.join(names[:-1])} and {names[-1]}. "
                        f"Request an equal share from each of them ({n} ways, rounded down to the cent) "
                        f"with the note \"{note}\".",
            supervisor=person.id,
            call=f"request_equal_share(total_cents={total}, people={names!r}, note={note!r})",
            expect=tuple(
                Expect("wallet", "requests", "insert", match={"requester_id": person.id, "payer_id": o, "amount_cents": share,
                                                              "note": note, "status": "pending"})
                for o in others
            ),
        )

    return _pick(_shuffled(data, rng), make)


# ---------------------------------------------------------------------------------------
# wallet: remind stale outgoing requests (train)

_REMIND = '''
def remind_requests_created_before(date: str) -> int:
    """Send a reminder for each of the supervisor's own payment requests that is still pending
    and was created before `date` (YYYY-MM-DD). Returns how many reminders were sent."""
{LOGIN}
{WALLET}
    stale = []
    page = 0
    while True:
        batch = apis.wallet.show_payment_requests(access_token=wallet, direction="outgoing", status="pending",
                                                  page_index=page, page_limit=20)
        if not batch:
            break
        stale.extend(r for r in batch if r["created_at"][:10] < date)
        page += 1
    for request in stale:
        apis.wallet.remind_payment_request(access_token=wallet, request_id=request["id"])
    return len(stale)
'''


def _build_remind(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        pending = _requests(data, person.id, "outgoing")
        cutoff = _ago(rng.randrange(7, 25))
        old = [r for r in pending if r["created_at"][:10] < cutoff]
        if not old or len(old) == len(pending):
            return None
        return TaskSpec(
            instruction=f"Send a reminder for each payment request of mine that is still pending and was created before "
                        f"{_day(cutoff)}. How many reminders did you send?",
            supervisor=person.id,
            call=f"remind_requests_created_before(date={cutoff!r})",
            expect=tuple(
                Expect("wallet", "requests", "update",
                       match={"id": r["id"], "reminder_count": r["reminder_count"] + 1, "last_reminded_at": NOW_ISO},
                       only_fields=frozenset({"reminder_count", "last_reminded_at"}))
                for r in old
            ),
            answer=len(old),
        )

    return _pick(_shuffled(data, rng), make)


# ---------------------------------------------------------------------------------------
# wallet + notes: pay small requests from friends and log them (train)

_APPROVE_LOG = '''
def pay_friend_requests_under(limit_cents: int, note_title: str) -> int:
    """Approve every pending incoming payment request under `limit_cents` from a wallet friend,
    and log each in a new note titled `note_title`, one line per request:
    '<requester name>: $<amount> for <request note>'. Returns how many were paid."""
{LOGIN}
{WALLET}
{NOTES}
    friends = set()
    page = 0
    while True:
        batch = apis.wallet.show_friends(access_token=wallet, page_index=page, page_limit=20)
        if not batch:
            break
        friends.update(f["email"] for f in batch)
        page += 1
    pending = []
    page = 0
    while True:
        batch = apis.wallet.show_payment_requests(access_token=wallet, direction="incoming", status="pending",
                                                  page_index=page, page_limit=20)
        if not batch:
            break
        pending.extend(batch)
        page += 1
    lines = []
    for request in pending:
        if request["requester_email"] in friends and request["amount_cents"] < limit_cents:
            apis.wallet.approve_payment_request(access_token=wallet, request_id=request["id"])
            lines.append(f"{request['requester_name']}: ${request['amount_cents'] / 100:.2f} for {request['note']}")
    apis.notes.create_note(access_token=notes, title=note_title, content="\\n".join(lines))
    return len(lines)
'''


def _build_approve_log(data: Any, rng: random.Random) -> list[TaskSpec]:
    titles = ("Requests I paid", "Paid back", "Wallet requests settled")

    def make(person: Any) -> TaskSpec | None:
        friends = {f["friend_id"] for f in _friend_rows(data, person.id)}
        pending = _requests(data, person.id, "incoming")
        limit = rng.choice((3000, 5000, 8000, 10000))
        hits = [r for r in pending if r["requester_id"] in friends and r["amount_cents"] < limit]
        if not hits or len(hits) == len(pending) or sum(r["amount_cents"] for r in hits) > _balance(data, person.id):
            return None
        title = rng.choice(titles)
        lines = [f"{_name(data, r['requester_id'])}: {_dollars(r['amount_cents'])} for {r['note']}" for r in hits]
        expect = [
            Expect("wallet", "requests", "update", match={"id": r["id"], "status": "approved", "transaction_id": lambda v: bool(v)},
                   only_fields=frozenset({"status", "updated_at", "transaction_id"}))
            for r in hits
        ]
        expect += _payment_expects(data, [(person.id, r["requester_id"], r["amount_cents"], {"request_id": r["id"]}) for r in hits])
        expect.append(_note_expect(person.id, title, lines, ordered=False))
        return TaskSpec(
            instruction=f"Pay every pending payment request from my wallet friends that is under {_dollars(limit)}, and "
                        f"create a note titled \"{title}\" with one line per request paid, like "
                        "\"Maya Okafor: $12.50 for pizza night\". Tell me how many requests you paid.",
            supervisor=person.id,
            call=f"pay_friend_requests_under(limit_cents={limit}, note_title={title!r})",
            expect=tuple(expect),
            answer=len(hits),
        )

    return _pick(_shuffled(data, rng), make)


# ---------------------------------------------------------------------------------------
# wallet: like and thank every recent incoming payment (dev)

_THANK = '''
def thank_senders_since(since: str, message: str) -> int:
    """Like (if not liked yet) and comment `message` on every wallet payment the supervisor
    received on or after `since` (YYYY-MM-DD). Returns how many payments that was."""
{LOGIN}
{WALLET}
    received = []
    page = 0
    while True:
        batch = apis.wallet.show_transactions(access_token=wallet, direction="received", start_date=since,
                                              page_index=page, page_limit=20)
        if not batch:
            break
        received.extend(batch)
        page += 1
    for payment in received:
        if not payment["liked_by_me"]:
            apis.wallet.like_transaction(access_token=wallet, transaction_id=payment["id"])
        apis.wallet.comment_on_transaction(access_token=wallet, transaction_id=payment["id"], text=message)
    return len(received)
'''


def _build_thank(data: Any, rng: random.Random) -> list[TaskSpec]:
    messages = ("Thank you!", "Thanks so much!", "Got it, thanks!")

    def make(person: Any) -> TaskSpec | None:
        since = _ago(rng.randrange(10, 30))
        hits = [t for t in _txns(data, person.id, "received") if t["created_at"][:10] >= since]
        if len(hits) < 6 or all(person.id in t["liked_by"] for t in hits):
            return None
        msg = rng.choice(messages)
        expect = [
            Expect("wallet", "transactions", "update", match={"id": t["id"], "liked_by": [*t["liked_by"], person.id]},
                   only_fields=frozenset({"liked_by"}))
            for t in hits if person.id not in t["liked_by"]
        ]
        expect += [
            Expect("wallet", "comments", "insert", match={"transaction_id": t["id"], "author_id": person.id, "text": msg})
            for t in hits
        ]
        return TaskSpec(
            instruction=f"Like every wallet payment I've received since {_day(since)} (skip the ones I already liked) and "
                        f"comment \"{msg}\" on each of them. How many payments was that?",
            supervisor=person.id,
            call=f"thank_senders_since(since={since!r}, message={msg!r})",
            expect=tuple(expect),
            answer=len(hits),
        )

    return _pick(_shuffled(data, rng), make)


# ---------------------------------------------------------------------------------------
# wallet + notes: note the largest payments of a period (dev)

_TOP_PAYMENTS = '''
def note_largest_payments(start_date: str, end_date: str, top_n: int, title: str) -> list[str]:
    """Write a note titled `title` listing the supervisor's `top_n` largest wallet payments sent
    between two dates (YYYY-MM-DD, inclusive), largest first, one line each:
    '<receiver name>: $<amount> (<note>)'. Returns the lines."""
{LOGIN}
{WALLET}
{NOTES}
    sent = []
    page = 0
    while True:
        batch = apis.wallet.show_transactions(access_token=wallet, direction="sent", start_date=start_date,
                                              end_date=end_date, sort_by="-amount_cents", page_index=page, page_limit=20)
        if not batch:
            break
        sent.extend(batch)
        page += 1
    sent.sort(key=lambda t: t["amount_cents"], reverse=True)
    lines = [f"{t['receiver_name']}: ${t['amount_cents'] / 100:.2f} ({t['note']})" for t in sent[:top_n]]
    apis.notes.create_note(access_token=notes, title=title, content="\\n".join(lines))
    return lines
'''


def _build_top_payments(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        end = _ago(rng.randrange(0, 10))
        start = (dt.date.fromisoformat(end) - dt.timedelta(days=rng.randrange(30, 70))).isoformat()
        top_n = rng.choice((3, 4, 5))
        sent = sorted((t for t in _txns(data, person.id, "sent") if start <= t["created_at"][:10] <= end),
                      key=lambda t: t["amount_cents"], reverse=True)
        if len(sent) <= top_n + 1 or len({t["amount_cents"] for t in sent[: top_n + 1]}) < top_n + 1:
            return None
        title = f"Largest payments {_day(start)} to {_day(end)}"
        lines = [f"{_name(data, t['receiver_id'])}: {_dollars(t['amount_cents'])} ({t['note']})" for t in sent[:top_n]]
        return TaskSpec(
            instruction=f"Create a note titled \"{title}\" listing my {top_n} largest wallet payments sent between "
                        f"{_day(start)} and {_day(end)}, largest first, one per line like \"Leo Chen: $45.00 (dinner)\".",
            supervisor=person.id,
            call=f"note_largest_payments(start_date={start!r}, end_date={end!r}, top_n={top_n}, title={title!r})",
            expect=(_note_expect(person.id, title, lines, ordered=True),),
        )

    return _pick(_shuffled(data, rng), make)


# ---------------------------------------------------------------------------------------
# wallet: cancel pending requests for one thing (test_normal)

_CANCEL = '''
def cancel_pending_requests_for(note_keyword: str) -> int:
    """Cancel every pending payment request the supervisor sent whose note mentions
    `note_keyword`. Returns how many were cancelled."""
{LOGIN}
{WALLET}
    pending = []
    page = 0
    while True:
        batch = apis.wallet.show_payment_requests(access_token=wallet, direction="outgoing", status="pending",
                                                  query=note_keyword, page_index=page, page_limit=20)
        if not batch:
            break
        pending.extend(batch)
        page += 1
    for request in pending:
        apis.wallet.cancel_payment_request(access_token=wallet, request_id=request["id"])
    return len(pending)
'''


def _build_cancel(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        pending = _requests(data, person.id, "outgoing")
        by_note = Counter(r["note"] for r in pending)
        choices = [n for n, c in by_note.items() if c >= 2 and len(pending) > c]
        if not choices:
            return None
        note = rng.choice(sorted(choices))
        hits = [r for r in pending if note in r["note"]]
        return TaskSpec(
            instruction=f"Plans changed: cancel all of my pending payment requests for the {note}. How many did you cancel?",
            supervisor=person.id,
            call=f"cancel_pending_requests_for(note_keyword={note!r})",
            expect=tuple(
                Expect("wallet", "requests", "update", match={"id": r["id"], "status": "cancelled"},
                       only_fields=frozenset({"status", "updated_at"}))
                for r in hits
            ),
            answer=len(hits),
        )

    return _pick(_shuffled(data, rng), make)


# ---------------------------------------------------------------------------------------
# wallet: net money exchanged with one person (test_normal)

_NET = '''
def net_received_from(person_name: str) -> float:
    """In dollars: everything `person_name` (full name) has paid the supervisor on wallet minus
    everything the supervisor has paid them."""
{LOGIN}
{WALLET}
    users = apis.wallet.search_users(access_token=wallet, query=person_name, page_limit=20)
    email = next(u["email"] for u in users if u["name"].lower() == person_name.lower())
    net_cents = 0
    page = 0
    while True:
        batch = apis.wallet.show_transactions(access_token=wallet, counterparty_email=email, page_index=page, page_limit=20)
        if not batch:
            break
        for t in batch:
            net_cents += t["amount_cents"] if t["direction"] == "received" else -t["amount_cents"]
        page += 1
    return round(net_cents / 100, 2)
'''


def _build_net(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        txns = _txns(data, person.id)
        by_other = Counter(t["other"] for t in txns)
        busy = sorted(o for o, c in by_other.items() if c >= 6)
        if not busy:
            return None
        other = rng.choice(busy)
        mine = [t for t in txns if t["other"] == other]
        if len({t["direction"] for t in mine}) < 2:
            return None
        net = sum(t["amount_cents"] if t["direction"] == "received" else -t["amount_cents"] for t in mine)
        name = _name(data, other)
        return TaskSpec(
            instruction=f"Across all our wallet payments, how much more has {name} paid me than I've paid them? "
                        "Answer in dollars, negative if I paid them more.",
            supervisor=person.id,
            call=f"net_received_from(person_name={name!r})",
            answer=round(net / 100, 2),
        )

    return _pick(_shuffled(data, rng), make)


# ---------------------------------------------------------------------------------------
# wallet: unfriend people with no recent payments (test_normal)

_UNFRIEND = '''
def remove_inactive_friends(since: str) -> int:
    """Remove from the supervisor's wallet friends everyone they have neither paid nor been
    paid by on or after `since` (YYYY-MM-DD). Returns how many were removed."""
{LOGIN}
{WALLET}
    active = set()
    page = 0
    while True:
        batch = apis.wallet.show_transactions(access_token=wallet, start_date=since, page_index=page, page_limit=20)
        if not batch:
            break
        active.update(t["counterparty_email"] for t in batch)
        page += 1
    friends = []
    page = 0
    while True:
        batch = apis.wallet.show_friends(access_token=wallet, page_index=page, page_limit=20)
        if not batch:
            break
        friends.extend(batch)
        page += 1
    removed = 0
    for friend in friends:
        if friend["email"] not in active:
            apis.wallet.remove_friend(access_token=wallet, email=friend["email"])
            removed += 1
    return removed
'''


def _build_unfriend(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        since = _ago(rng.randrange(40, 100))
        active = {t["other"] for t in _txns(data, person.id) if t["created_at"][:10] >= since}
        friends = _friend_rows(data, person.id)
        gone = [f for f in friends if f["friend_id"] not in active]
        if len(gone) < 2 or len(gone) == len(friends):
            return None
        return TaskSpec(
            instruction=f"Clean up my wallet friends list: remove every friend I haven't sent money to or received money "
                        f"from since {_day(since)}. How many friends did you remove?",
            supervisor=person.id,
            call=f"remove_inactive_friends(since={since!r})",
            expect=tuple(
                Expect("wallet", "friends", "delete", match={"id": f["id"], "owner_id": person.id, "friend_id": f["friend_id"]})
                for f in gone
            ),
            answer=len(gone),
        )

    return _pick(_shuffled(data, rng), make)


# ---------------------------------------------------------------------------------------
# splitbill helpers (builders)


def _groups_of(data: Any, pid: str) -> list[dict[str, Any]]:
    return [_get(data, "splitbill", "groups", m["group_id"]) for m in data.rows_of("splitbill", "memberships", pid)]


def _named_groups(data: Any, pid: str) -> list[dict[str, Any]]:
    """The person's groups whose name is unambiguous among their groups."""
    groups = _groups_of(data, pid)
    names = Counter(g["name"].lower() for g in groups)
    return [g for g in groups if names[g["name"].lower()] == 1]


def _owed(data: Any, group_id: str, me: str) -> dict[str, int]:
    """What `me` owes each member of the group (negative: they owe `me`)."""
    owe: dict[str, int] = {}
    for e in data.rows_of("splitbill", "expenses", group_id):
        if e["paid_by"] == me:
            for pid, c in e["shares"].items():
                if pid != me:
                    owe[pid] = owe.get(pid, 0) - c
        elif me in e["shares"]:
            owe[e["paid_by"]] = owe.get(e["paid_by"], 0) + e["shares"][me]
    for s in data.rows_of("splitbill", "settlements", group_id):
        if s["from_id"] == me:
            owe[s["to_id"]] = owe.get(s["to_id"], 0) - s["amount_cents"]
        elif s["to_id"] == me:
            owe[s["from_id"]] = owe.get(s["from_id"], 0) + s["amount_cents"]
    return owe


# ---------------------------------------------------------------------------------------
# splitbill + wallet: pay back everyone you owe in a group (test_challenge)

_SETTLE_VIA_WALLET = '''
def settle_group_via_wallet(group_name: str) -> int:
    """Pay, through wallet, every member the supervisor owes in the splitbill group
    `group_name` (note '<group name> settle up'), and record each payment in splitbill as a
    settlement. Returns the total paid in cents."""
{LOGIN}
{WALLET}
{SPLITBILL}
{FIND_GROUP}
    balances = apis.splitbill.show_balances(access_token=splitbill, group_id=group["id"])
    note = f"{group['name']} settle up"
    total = 0
    for debt in balances["you_owe"]:
        apis.wallet.send_money(access_token=wallet, receiver_email=debt["email"], amount_cents=debt["amount_cents"], note=note)
        apis.splitbill.settle_up(access_token=splitbill, group_id=group["id"], to_email=debt["email"],
                                 amount_cents=debt["amount_cents"], note=note)
        total += debt["amount_cents"]
    return total
'''


def _build_settle_via_wallet(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        for g in _named_groups(data, person.id):
            debts = {o: c for o, c in _owed(data, g["id"], person.id).items() if c > 0}
            if len(debts) < 2 or sum(debts.values()) > _balance(data, person.id):
                continue
            note = f"{g['name']} settle up"
            expect = _payment_expects(data, [(person.id, o, c, {"note": note}) for o, c in debts.items()])
            expect += [
                Expect("splitbill", "settlements", "insert",
                       match={"group_id": g["id"], "from_id": person.id, "to_id": o, "amount_cents": c,
                              # the group sees the note: no note, or the payment's own
                              "note": lambda v, n=note: isinstance(v, str) and normalise_text(v) in ("", n)})
                for o, c in debts.items()
            ]
            return TaskSpec(
                instruction=f"Pay back everyone I owe in my splitbill group \"{g['name']}\": send each of them what I owe "
                            f"through wallet with the note \"{note}\", and record each payment in splitbill as a settlement.",
                supervisor=person.id,
                call=f"settle_group_via_wallet(group_name={g['name']!r})",
                expect=tuple(expect),
            )
        return None

    return _pick(_shuffled(data, rng), make)


# ---------------------------------------------------------------------------------------
# splitbill: add an expense split equally among some members (test_challenge)

_ADD_EQUAL = '''
def add_equal_expense(group_name: str, description: str, amount_cents: int, participants: list[str],
                      category: str) -> list[dict]:
    """Add an expense paid by the supervisor to the splitbill group `group_name`, split equally
    between the supervisor and `participants` (members' full names). Returns the shares."""
{LOGIN}
{SPLITBILL}
{FIND_GROUP}
    by_name = {m["name"].lower(): m["email"] for m in group["members"]}
    emails = [profile["email"]] + [by_name[name.lower()] for name in participants]
    created = apis.splitbill.add_expense(access_token=splitbill, group_id=group["id"], description=description,
                                         amount_cents=amount_cents, split_type="equal", split_with_emails=emails,
                                         category=category)
    return created["shares"]
'''

_NEW_EXPENSES = (("Dinner at Casa Verde", "food"), ("Museum passes", "entertainment"), ("Train tickets", "transport"),
                 ("Groceries for the weekend", "groceries"), ("Gas refill", "utilities"), ("Cabin night", "lodging"))


def _build_add_equal(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        groups = [g for g in _named_groups(data, person.id) if len(g["member_ids"]) >= 4]
        if not groups:
            return None
        g = rng.choice(groups)
        others = [m for m in g["member_ids"] if m != person.id]
        chosen = rng.sample(others, rng.randint(2, len(others) - 1)) if len(others) > 2 else others
        participants = [m for m in g["member_ids"] if m == person.id or m in chosen]
        amount = rng.randrange(2000, 40000)
        if amount % len(participants) == 0:
            amount += 1
        desc, category = rng.choice(_NEW_EXPENSES)
        names = [_name(data, m) for m in participants if m != person.id]
        return TaskSpec(
            instruction=f"In my splitbill group \"{g['name']}\", add the {category} expense \"{desc}\": I paid "
                        f"{_dollars(amount)}, split equally between me, {', '.join(names[:-1])} and {names[-1]}.",
            supervisor=person.id,
            call=(f"add_equal_expense(group_name={g['name']!r}, description={desc!r}, amount_cents={amount}, "
                  f"participants={names!r}, category={category!r})"),
            expect=(
                Expect("splitbill", "expenses", "insert", match={
                    "group_id": g["id"], "description": desc, "amount_cents": amount, "paid_by": person.id,
                    "split_type": "equal", "category": category, "shares": equal_shares(amount, participants),
                }),
            ),
        )

    return _pick(_shuffled(data, rng), make)


# ---------------------------------------------------------------------------------------
# splitbill + notes: note the expenses I paid in a group over a period (test_challenge)

_NOTE_GROUP_EXPENSES = '''
def note_expenses_i_paid(group_name: str, start_date: str, end_date: str, title: str) -> float:
    """Write a note titled `title` listing every expense the supervisor paid in the splitbill
    group `group_name` between two dates (YYYY-MM-DD, inclusive), oldest first, one line each:
    '<date> <description>: $<amount>'. Returns the total in dollars."""
{LOGIN}
{SPLITBILL}
{NOTES}
{FIND_GROUP}
    paid = []
    page = 0
    while True:
        batch = apis.splitbill.show_expenses(access_token=splitbill, group_id=group["id"], paid_by_email=profile["email"],
                                             start_date=start_date, end_date=end_date, sort_by="date",
                                             page_index=page, page_limit=20)
        if not batch:
            break
        paid.extend(batch)
        page += 1
    paid.sort(key=lambda e: e["date"])
    lines = [f"{e['date']} {e['description']}: ${e['amount_cents'] / 100:.2f}" for e in paid]
    apis.notes.create_note(access_token=notes, title=title, content="\\n".join(lines))
    return round(sum(e["amount_cents"] for e in paid) / 100, 2)
'''


def _build_note_group_expenses(data: Any, rng: random.Random) -> list[TaskSpec]:
    def lines_in_date_order(content: Any, expected: list[str]) -> bool:
        if not _lines_equal(expected, ordered=False)(content):
            return False
        dates = [ln.strip()[:10] for ln in content.strip().splitlines() if ln.strip()]
        return dates == sorted(dates)

    def make(person: Any) -> TaskSpec | None:
        for g in _named_groups(data, person.id):
            end = _ago(rng.randrange(0, 20))
            start = (dt.date.fromisoformat(end) - dt.timedelta(days=rng.randrange(60, 150))).isoformat()
            paid = sorted((e for e in data.rows_of("splitbill", "expenses", g["id"])
                           if e["paid_by"] == person.id and start <= e["date"] <= end), key=lambda e: e["date"])
            if len(paid) < 6:  # more than one default page
                continue
            title = f"{g['name']}: what I paid"
            lines = [f"{e['date']} {e['description']}: {_dollars(e['amount_cents'])}" for e in paid]
            return TaskSpec(
                instruction=f"Make a note titled \"{title}\" listing every expense I paid in my splitbill group "
                            f"\"{g['name']}\" between {_day(start)} and {_day(end)}, oldest first, one line each like "
                            "\"2026-04-12 Groceries: $45.10\". Also tell me the total I paid, in dollars.",
                supervisor=person.id,
                call=f"note_expenses_i_paid(group_name={g['name']!r}, start_date={start!r}, end_date={end!r}, title={title!r})",
                expect=(Expect("notes", "notes", "insert", match={
                    "owner_id": person.id, "title": title,
                    "content": lambda c, lines=lines: lines_in_date_order(c, lines),
                }, label=f"a note {title!r} with {len(lines)} line(s), oldest first"),),
                answer=round(sum(e["amount_cents"] for e in paid) / 100, 2),
            )
        return None

    return _pick(_shuffled(data, rng), make)


# ---------------------------------------------------------------------------------------
# splitbill + wallet: request what each member owes you (test_challenge)

_REQUEST_DEBTS = '''
def request_group_debts(group_name: str) -> int:
    """Send every member who owes the supervisor money in the splitbill group `group_name` a
    wallet payment request for exactly that amount, noted '<group name>: your share'.
    Returns how many requests were sent."""
{LOGIN}
{WALLET}
{SPLITBILL}
{FIND_GROUP}
    balances = apis.splitbill.show_balances(access_token=splitbill, group_id=group["id"])
    for debt in balances["owed_to_you"]:
        apis.wallet.create_payment_request(access_token=wallet, payer_email=debt["email"],
                                           amount_cents=debt["amount_cents"], note=f"{group['name']}: your share")
    return len(balances["owed_to_you"])
'''


def _build_request_debts(data: Any, rng: random.Random) -> list[TaskSpec]:
    def make(person: Any) -> TaskSpec | None:
        for g in _named_groups(data, person.id):
            owed = {o: -c for o, c in _owed(data, g["id"], person.id).items() if c < 0}
            if len(owed) < 2:
                continue
            note = f"{g['name']}: your share"
            return TaskSpec(
                instruction=f"Everyone who owes me money in my splitbill group \"{g['name']}\" should get a wallet payment "
                            f"request for exactly what they owe me, with the note \"{note}\". How many requests did you send?",
                supervisor=person.id,
                call=f"request_group_debts(group_name={g['name']!r})",
                expect=tuple(
                    Expect("wallet", "requests", "insert", match={"requester_id": person.id, "payer_id": o, "amount_cents": c,
                                                                  "note": note, "status": "pending"})
                    for o, c in owed.items()
                ),
                answer=len(owed),
            )
        return None

    return _pick(_shuffled(data, rng), make)


# ---------------------------------------------------------------------------------------
# splitbill: remove expenses entered twice (dev)

_DEDUP = '''
def delete_duplicate_expenses(group_name: str) -> int:
    """Delete expenses entered more than once in the splitbill group `group_name` (same
    description, amount, payer, date and shares), keeping the earliest-entered copy of each.
    Returns how many were deleted."""
{LOGIN}
{SPLITBILL}
{FIND_GROUP}
    expenses = []
    page = 0
    while True:
        batch = apis.splitbill.show_expenses(access_token=splitbill, group_id=group["id"], page_index=page, page_limit=20)
        if not batch:
            break
        expenses.extend(batch)
        page += 1
    expenses.sort(key=lambda e: e["created_at"])
    seen = set()
    deleted = 0
    for e in expenses:
        key = (e["description"], e["amount_cents"], e["paid_by_email"], e["date"],
               tuple((s["email"], s["share_cents"]) for s in e["shares"]))
        if key in seen:
            apis.splitbill.delete_expense(access_token=splitbill, expense_id=e["id"])
            deleted += 1
        else:
            seen.add(key)
    return deleted
'''


def _build_dedup(data: Any, rng: random.Random) -> list[TaskSpec]:
    def duplicates(group_id: str) -> list[dict[str, Any]]:
        seen: set[Any] = set()
        dups = []
        for e in sorted(data.rows_of("splitbill", "expenses", group_id), key=lambda e: e["created_at"]):
            key = (e["description"], e["amount_cents"], e["paid_by"], e["date"], tuple(sorted(e["shares"].items())))
            if key in seen:
                dups.append(e)
            seen.add(key)
        return dups

    used: set[str] = set()

    def make(person: Any) -> TaskSpec | None:
        for g in _named_groups(data, person.id):
            dups = duplicates(g["id"])
            if not dups or g["id"] in used or len(data.rows_of("splitbill", "expenses", g["id"])) <= 5:
                continue
            used.add(g["id"])
            return TaskSpec(
                instruction=f"Some expenses in my splitbill group \"{g['name']}\" were entered twice. Delete the duplicates "
                            "(same description, amount, payer, date and split), keeping the copy entered first, and tell me "
                            "how many you deleted.",
                supervisor=person.id,
                call=f"delete_duplicate_expenses(group_name={g['name']!r})",
                expect=tuple(Expect("splitbill", "expenses", "delete", match={"id": e["id"]}) for e in dups),
                answer=len(dups),
            )
        return None

    return _pick(_shuffled(data, rng), make)


# ---------------------------------------------------------------------------------------

_W = "wallet"
SCENARIOS: list[ScenarioDef] = [
    ScenarioDef("wallet_total_received", ("wallet",), 1, "train", "total_received", _skill(_TOTAL_RECEIVED),
                _build_total_received, _explore((_W, "show_transactions")),
                "Sum the payments received in a date range, across pages."),
    ScenarioDef("wallet_decline_non_friend_requests", ("wallet",), 2, "train", "decline_requests_from_non_friends",
                _skill(_DECLINE_NON_FRIENDS), _build_decline_non_friends,
                _explore((_W, "show_friends"), (_W, "show_payment_requests"), (_W, "decline_payment_request")),
                "Collect friends and pending requests over pages, then decline the strangers' requests."),
    ScenarioDef("wallet_refund_event_payers", ("wallet",), 2, "train", "refund_payments", _skill(_REFUND), _build_refund,
                _explore((_W, "show_transactions"), (_W, "send_money")),
                "Find payments received for one thing since a date and send each back."),
    ScenarioDef("wallet_request_equal_share", ("wallet",), 1, "train", "request_equal_share", _skill(_REQUEST_SHARE),
                _build_request_share, _explore((_W, "search_users"), (_W, "create_payment_request")),
                "Split a cost equally (rounding down) and request each person's share."),
    ScenarioDef("wallet_remind_stale_requests", ("wallet",), 2, "train", "remind_requests_created_before", _skill(_REMIND),
                _build_remind, _explore((_W, "show_payment_requests"), (_W, "remind_payment_request")),
                "Remind the payers of old pending requests."),
    ScenarioDef("wallet_pay_friend_requests_log_note", ("wallet", "notes"), 3, "train", "pay_friend_requests_under",
                _skill(_APPROVE_LOG), _build_approve_log,
                _explore((_W, "show_friends"), (_W, "show_payment_requests"), (_W, "approve_payment_request"),
                         ("notes", "create_note")),
                "Approve small requests from friends and log them in a note."),
    ScenarioDef("wallet_thank_recent_senders", ("wallet",), 2, "dev", "thank_senders_since", _skill(_THANK), _build_thank,
                _explore((_W, "show_transactions"), (_W, "like_transaction"), (_W, "comment_on_transaction")),
                "Like and comment on every payment received since a date."),
    ScenarioDef("wallet_largest_payments_note", ("wallet", "notes"), 2, "dev", "note_largest_payments",
                _skill(_TOP_PAYMENTS), _build_top_payments, _explore((_W, "show_transactions"), ("notes", "create_note")),
                "Rank payments sent in a period and write the top ones into a note."),
    ScenarioDef("wallet_cancel_requests_for", ("wallet",), 1, "test_normal", "cancel_pending_requests_for",
                _skill(_CANCEL), _build_cancel, _explore((_W, "show_payment_requests"), (_W, "cancel_payment_request")),
                "Cancel the pending requests sent for one thing."),
    ScenarioDef("wallet_net_with_person", ("wallet",), 2, "test_normal", "net_received_from", _skill(_NET), _build_net,
                _explore((_W, "search_users"), (_W, "show_transactions")),
                "Net money exchanged with one person across all pages."),
    ScenarioDef("wallet_remove_inactive_friends", ("wallet",), 3, "test_normal", "remove_inactive_friends",
                _skill(_UNFRIEND), _build_unfriend,
                _explore((_W, "show_transactions"), (_W, "show_friends"), (_W, "remove_friend")),
                "Unfriend everyone without a payment since a date."),
    ScenarioDef("splitbill_settle_group_via_wallet", ("splitbill", "wallet"), 3, "test_challenge", "settle_group_via_wallet",
                _skill(_SETTLE_VIA_WALLET), _build_settle_via_wallet,
                _explore(("splitbill", "show_balances"), ("splitbill", "settle_up"), (_W, "send_money")),
                "Pay every debt in a group through wallet and record the settlements."),
    ScenarioDef("splitbill_add_equal_expense", ("splitbill",), 1, "test_challenge", "add_equal_expense",
                _skill(_ADD_EQUAL), _build_add_equal, _explore(("splitbill", "show_groups"), ("splitbill", "add_expense")),
                "Add an expense split equally among some members (remainder cents)."),
    ScenarioDef("splitbill_note_expenses_i_paid", ("splitbill", "notes"), 2, "test_challenge", "note_expenses_i_paid",
                _skill(_NOTE_GROUP_EXPENSES), _build_note_group_expenses,
                _explore(("splitbill", "show_expenses"), ("notes", "create_note")),
                "List the expenses one paid in a group over a period into a note, with the total."),
    ScenarioDef("splitbill_request_debts_via_wallet", ("splitbill", "wallet"), 2, "test_challenge", "request_group_debts",
                _skill(_REQUEST_DEBTS), _build_request_debts,
                _explore(("splitbill", "show_balances"), (_W, "create_payment_request")),
                "Request through wallet what each group member owes."),
    ScenarioDef("splitbill_delete_duplicate_expenses", ("splitbill",), 2, "dev", "delete_duplicate_expenses",
                _skill(_DEDUP), _build_dedup, _explore(("splitbill", "show_expenses"), ("splitbill", "delete_expense")),
                "Find expenses entered twice across pages and delete the later copies."),
]
