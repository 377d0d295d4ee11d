"""`wallet`: a person-to-person payments app (balance, cards, payments, requests, friends).

Money is integer cents everywhere (`*_cents`). A payment is one record shared by its
sender and receiver; `txn_index` and `request_index` are derived per-user indexes (so a
user's list APIs never scan the whole world) and are ephemeral: grading ignores them.
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
    not_found,
    paginate,
    sort_param,
    sort_rows,
    stable_id,
)

APP = AppDef(
    "wallet",
    "Send and request money from friends: balance, payment cards, payments with notes, likes and comments, "
    "payment requests, top-ups and withdrawals. Amounts are integer cents.",
)
TABLES = {
    "accounts": "owner_id",
    "cards": "owner_id",
    "transactions": "sender_id",
    "txn_index": "user_id",
    "comments": "transaction_id",
    "requests": "requester_id",
    "request_index": "user_id",
    "friends": "owner_id",
    "transfers": "owner_id",
}
_EPHEMERAL = ("txn_index", "request_index")

REQUEST_STATUSES = ("pending", "approved", "declined", "cancelled")

#: (note, low cents, high cents) for everyday payments.
_PAYMENT_NOTES = (
    ("pizza night", 900, 3200), ("groceries", 1500, 9000), ("taxi home", 800, 4500), ("coffee", 350, 1200),
    ("rent share", 40000, 95000), ("electric bill", 2500, 9000), ("movie tickets", 1200, 3600),
    ("brunch", 1500, 4800), ("gas money", 1000, 5000), ("birthday gift", 2000, 8000),
    ("dinner", 1800, 7500), ("internet bill", 1500, 4500), ("book club snacks", 500, 2500),
    ("parking", 500, 2500), ("drinks", 1200, 5200),
)
#: Shared costs many people pay one organiser for, within a few days.
_EVENT_NOTES = (
    ("concert tickets", 4500, 12000), ("cabin deposit", 8000, 25000), ("team lunch", 1500, 3500),
    ("wedding gift pool", 3000, 7500), ("ski pass", 6000, 15000), ("festival bus", 2000, 4500),
)
_COMMENTS = ("Thanks!", "Cheers", "You're the best", "Got it", "Next one's on me", "Perfect, thank you")
_BRANDS = ("Visa", "Mastercard", "Amex", "Discover")
_CLOSE = ("roommate", "family", "friend")


# ---------------------------------------------------------------------------------------
# seed data


def _past(rng: random.Random, days: int) -> str:
    return (NOW - dt.timedelta(days=days, minutes=rng.randrange(1, 600))).isoformat()


def seed(b: Any, population: Any, rng: random.Random) -> None:
    for name in _EPHEMERAL:
        b.table("wallet", name, TABLES[name], ephemeral=True)
    people = population.people
    ids = [p.id for p in people]
    serial = iter(range(10**9))

    def add_txn(sender: str, receiver: str, amount: int, note: str, at: str, request_id: str | None = None) -> str:
        rid = stable_id("wtx", sender, receiver, next(serial))
        likes = [receiver] if rng.random() < 0.3 else []
        if likes and rng.random() < 0.3:
            likes.append(sender)
        b.add("wallet", "transactions", rid, {
            "id": rid, "sender_id": sender, "receiver_id": receiver, "amount_cents": amount, "note": note,
            "created_at": at, "payment_card_id": None, "request_id": request_id, "liked_by": likes,
        })
        for uid, other, direction in ((sender, receiver, "sent"), (receiver, sender, "received")):
            b.add("wallet", "txn_index", f"{rid}:{uid}", {
                "id": f"{rid}:{uid}", "user_id": uid, "transaction_id": rid, "counterparty_id": other,
                "direction": direction, "created_at": at,
            })
        if rng.random() < 0.15:
            for k in range(rng.randint(1, 2)):
                cid = stable_id("wcm", rid, k)
                b.add("wallet", "comments", cid, {
                    "id": cid, "transaction_id": rid, "author_id": rng.choice((sender, receiver)),
                    "text": rng.choice(_COMMENTS), "created_at": at,
                })
        return rid

    def add_request(requester: str, payer: str, amount: int, note: str, days: int, status: str) -> None:
        created = _past(rng, days)
        rid = stable_id("wreq", requester, payer, next(serial))
        row: dict[str, Any] = {
            "id": rid, "requester_id": requester, "payer_id": payer, "amount_cents": amount, "note": note,
            "status": status, "created_at": created, "updated_at": created, "reminder_count": 0,
            "last_reminded_at": None, "transaction_id": None,
        }
        if status == "pending" and rng.random() < 0.35:
            row["reminder_count"] = rng.randint(1, 2)
            row["last_reminded_at"] = _past(rng, rng.randrange(0, days + 1))
        elif status != "pending":
            row["updated_at"] = _past(rng, rng.randrange(0, days + 1))
            if status == "approved":
                row["transaction_id"] = add_txn(payer, requester, amount, note, row["updated_at"], rid)
        b.add("wallet", "requests", rid, row)
        for uid in (requester, payer):
            b.add("wallet", "request_index", f"{rid}:{uid}", {"id": f"{rid}:{uid}", "user_id": uid, "request_id": rid})

    # accounts, cards, top-ups
    for p in people:
        aid = stable_id("wacct", p.id)
        b.add("wallet", "accounts", aid, {
            "id": aid, "owner_id": p.id, "balance_cents": rng.randrange(8000, 260000), "created_at": _past(rng, 900),
        })
        last4s = rng.sample(range(1000, 10000), rng.randint(1, 3))
        for k, last4 in enumerate(last4s):
            cid = stable_id("wcard", p.id, k)
            b.add("wallet", "cards", cid, {
                "id": cid, "owner_id": p.id, "brand": rng.choice(_BRANDS), "last4": str(last4),
                "expires": f"{rng.randint(1, 12):02d}/{rng.randint(27, 31)}", "is_default": k == 0,
            })
        for k in range(rng.randint(0, 3)):
            tid = stable_id("wtr", p.id, k)
            b.add("wallet", "transfers", tid, {
                "id": tid, "owner_id": p.id, "kind": rng.choice(("top_up", "top_up", "withdrawal")),
                "card_id": stable_id("wcard", p.id, 0), "amount_cents": rng.randrange(20, 400) * 100,
                "created_at": _past(rng, rng.randrange(1, 200)),
            })

    # friends: close relations always, coworkers sometimes; friendship is mutual
    for p in people:
        for other, rel in p.relationships.items():
            if other < p.id:
                continue
            if rel in _CLOSE or rng.random() < 0.5:
                at = _past(rng, rng.randrange(30, 900))
                for a, c in ((p.id, other), (other, p.id)):
                    fid = stable_id("wfr", a, c)
                    b.add("wallet", "friends", fid, {"id": fid, "owner_id": a, "friend_id": c, "created_at": at})

    # everyday payments, concentrated on a few close people so pairs have real histories
    for p in people:
        related = list(p.relationships)
        close = [o for o, r in p.relationships.items() if r in _CLOSE]
        close = rng.sample(close, min(3, len(close))) if close else related[:2]
        for _ in range(rng.randint(10, 16)):
            roll = rng.random()
            pool = close if roll < 0.45 and close else (related if roll < 0.8 and related else ids)
            receiver = rng.choice([o for o in pool if o != p.id])
            note, lo, hi = rng.choice(_PAYMENT_NOTES)
            days = min(int(rng.expovariate(1 / 45)), 200)
            add_txn(p.id, receiver, rng.randrange(lo, hi), note, _past(rng, days))
        # an event: several people pay this organiser the same amount for the same thing
        if rng.random() < 0.45 and len(related) >= 3:
            note, lo, hi = rng.choice(_EVENT_NOTES)
            amount = rng.randrange(lo, hi) // 100 * 100
            start = rng.randrange(1, 25)
            for payer in rng.sample(related, min(len(related), rng.randint(3, 5))):
                add_txn(payer, p.id, amount, note, _past(rng, start + rng.randrange(0, 4)))

    # payment requests: one-offs plus groups of identical requests for one shared cost
    statuses = ("pending",) * 11 + ("approved",) * 5 + ("declined",) * 2 + ("cancelled",) * 2
    for p in people:
        related = list(p.relationships)
        for _ in range(rng.randint(3, 7)):
            payer = rng.choice(related) if related and rng.random() < 0.6 else rng.choice([o for o in ids if o != p.id])
            note, lo, hi = rng.choice(_PAYMENT_NOTES)
            add_request(p.id, payer, rng.randrange(lo, hi), note, min(int(rng.expovariate(1 / 25)), 90), rng.choice(statuses))
        if rng.random() < 0.4 and len(related) >= 2:
            note, lo, hi = rng.choice(_EVENT_NOTES)
            amount = rng.randrange(lo, hi) // 100 * 100
            days = rng.randrange(1, 40)
            for payer in rng.sample(related, min(len(related), rng.randint(2, 4))):
                add_request(p.id, payer, amount, note, days, "pending" if rng.random() < 0.8 else "approved")


# ---------------------------------------------------------------------------------------
# helpers


def _where(api: str) -> str:
    return f"wallet.{api}"


def _user_by_email(ctx: CallContext, api: str, email: str) -> dict[str, Any]:
    person = ctx.person_by_email(email)
    if person is None:
        raise not_found(_where(api), "user with email", email)
    return person


def _date(api: str, name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        if len(value) != 10:
            raise ValueError
        dt.date.fromisoformat(value)
    except ValueError:
        raise ApiError(f"wallet.{api}: parameter '{name}' must be a date YYYY-MM-DD, got {value!r}.") from None
    return value


def _account(ctx: CallContext) -> dict[str, Any]:
    return ctx.table("accounts").rows_of(ctx.user)[0]


def _adjust_balance(ctx: CallContext, person_id: str, delta: int) -> int:
    acct = ctx.table("accounts").rows_of(person_id)[0]
    return ctx.table("accounts").update(acct["id"], balance_cents=acct["balance_cents"] + delta)["balance_cents"]


def _card(ctx: CallContext, api: str, card_id: str) -> dict[str, Any]:
    card = ctx.table("cards").get(card_id)
    if card is None or card["owner_id"] != ctx.user:
        raise not_found(_where(api), "payment card", card_id)
    return card


def _txn(ctx: CallContext, api: str, transaction_id: str) -> dict[str, Any]:
    t = ctx.table("transactions").get(transaction_id)
    if t is None or ctx.user not in (t["sender_id"], t["receiver_id"]):
        raise not_found(_where(api), "transaction", transaction_id)
    return t


def _request(ctx: CallContext, api: str, request_id: str) -> dict[str, Any]:
    r = ctx.table("requests").get(request_id)
    if r is None or ctx.user not in (r["requester_id"], r["payer_id"]):
        raise not_found(_where(api), "payment request", request_id)
    return r


def _pay(ctx: CallContext, api: str, receiver_id: str, amount: int, note: str, card_id: str | None,
         request_id: str | None = None) -> dict[str, Any]:
    """Move money from the caller to `receiver_id`: from a card if given, else from the balance."""
    if receiver_id == ctx.user:
        raise ApiError(f"wallet.{api}: you cannot pay yourself.")
    if card_id is not None:
        _card(ctx, api, card_id)
    else:
        balance = _account(ctx)["balance_cents"]
        if balance < amount:
            raise ApiError(
                f"wallet.{api}: insufficient balance ({balance} cents available, {amount} needed); "
                "top up first or pass payment_card_id."
            )
        _adjust_balance(ctx, ctx.user, -amount)
    _adjust_balance(ctx, receiver_id, amount)
    rid = ctx.new_id("wtx")
    row = {
        "id": rid, "sender_id": ctx.user, "receiver_id": receiver_id, "amount_cents": amount, "note": note,
        "created_at": NOW_ISO, "payment_card_id": card_id, "request_id": request_id, "liked_by": [],
    }
    ctx.table("transactions").insert(rid, row)
    index = ctx.table("txn_index")
    for uid, other, direction in ((ctx.user, receiver_id, "sent"), (receiver_id, ctx.user, "received")):
        index.insert(f"{rid}:{uid}", {
            "id": f"{rid}:{uid}", "user_id": uid, "transaction_id": rid, "counterparty_id": other,
            "direction": direction, "created_at": NOW_ISO,
        })
    return row


_TXN = {
    "id": "string", "direction": "'sent' | 'received'", "counterparty_email": "string", "counterparty_name": "string",
    "sender_email": "string", "sender_name": "string", "receiver_email": "string", "receiver_name": "string",
    "amount_cents": "integer", "note": "string", "created_at": "datetime", "payment_card_id": "string | null (null: paid from balance)",
    "request_id": "string | null", "like_count": "integer", "liked_by_me": "boolean", "comment_count": "integer",
}
_REQ = {
    "id": "string", "direction": "'incoming' (you are asked to pay) | 'outgoing' (you asked)",
    "requester_email": "string", "requester_name": "string", "payer_email": "string", "payer_name": "string",
    "counterparty_email": "string", "counterparty_name": "string", "amount_cents": "integer", "note": "string",
    "status": "|".join(REQUEST_STATUSES), "created_at": "datetime", "updated_at": "datetime",
    "reminder_count": "integer", "last_reminded_at": "datetime | null", "transaction_id": "string | null",
}


def _txn_view(ctx: CallContext, t: dict[str, Any]) -> dict[str, Any]:
    sender, receiver = ctx.person(t["sender_id"]), ctx.person(t["receiver_id"])
    sent = t["sender_id"] == ctx.user
    other = receiver if sent else sender
    return {
        "id": t["id"], "direction": "sent" if sent else "received",
        "counterparty_email": other["email"], "counterparty_name": other["full_name"],
        "sender_email": sender["email"], "sender_name": sender["full_name"],
        "receiver_email": receiver["email"], "receiver_name": receiver["full_name"],
        "amount_cents": t["amount_cents"], "note": t["note"], "created_at": t["created_at"],
        "payment_card_id": t["payment_card_id"], "request_id": t["request_id"],
        "like_count": len(t["liked_by"]), "liked_by_me": ctx.user in t["liked_by"],
        "comment_count": len(ctx.table("comments").rows_of(t["id"])),
    }


def _req_view(ctx: CallContext, r: dict[str, Any]) -> dict[str, Any]:
    requester, payer = ctx.person(r["requester_id"]), ctx.person(r["payer_id"])
    outgoing = r["requester_id"] == ctx.user
    other = payer if outgoing else requester
    return {
        "id": r["id"], "direction": "outgoing" if outgoing else "incoming",
        "requester_email": requester["email"], "requester_name": requester["full_name"],
        "payer_email": payer["email"], "payer_name": payer["full_name"],
        "counterparty_email": other["email"], "counterparty_name": other["full_name"],
        "amount_cents": r["amount_cents"], "note": r["note"], "status": r["status"],
        "created_at": r["created_at"], "updated_at": r["updated_at"], "reminder_count": r["reminder_count"],
        "last_reminded_at": r["last_reminded_at"], "transaction_id": r["transaction_id"],
    }


def _card_view(card: dict[str, Any]) -> dict[str, Any]:
    return {k: card[k] for k in ("id", "brand", "last4", "expires", "is_default")}


_AMOUNT = Param("amount_cents", "integer", "Amount in cents (e.g. 1250 for $12.50).", minimum=1, maximum=10_000_000)
_MSG = {"message": "string"}

# ---------------------------------------------------------------------------------------
# account, cards, transfers


@APP.api(
    "show_account",
    "Show your wallet account: name, email, balance in cents and how many friends and cards you have.",
    response={"name": "string", "email": "string", "balance_cents": "integer", "friend_count": "integer", "card_count": "integer"},
)
def show_account(ctx):
    me = ctx.person(ctx.user)
    return {
        "name": me["full_name"], "email": me["email"], "balance_cents": _account(ctx)["balance_cents"],
        "friend_count": len(ctx.table("friends").rows_of(ctx.user)), "card_count": len(ctx.table("cards").rows_of(ctx.user)),
    }


@APP.api(
    "show_payment_cards",
    "List your payment cards (brand, last 4 digits, expiry, whether it is the default).",
    response=[{"id": "string", "brand": "string", "last4": "string", "expires": "MM/YY", "is_default": "boolean"}],
)
def show_payment_cards(ctx):
    return [_card_view(c) for c in ctx.table("cards").rows_of(ctx.user)]


@APP.api(
    "top_up",
    "Add money to your wallet balance from one of your payment cards.",
    [Param("payment_card_id", "string", "The card to charge."), _AMOUNT],
    response={"transfer_id": "string", "balance_cents": "integer"},
    errors=("404 payment card not found",),
    mutates=True, destructive=True, outbound=True,
)
def top_up(ctx, payment_card_id, amount_cents):
    _card(ctx, "top_up", payment_card_id)
    balance = _adjust_balance(ctx, ctx.user, amount_cents)
    tid = ctx.new_id("wtr")
    ctx.table("transfers").insert(tid, {
        "id": tid, "owner_id": ctx.user, "kind": "top_up", "card_id": payment_card_id,
        "amount_cents": amount_cents, "created_at": NOW_ISO,
    })
    return {"transfer_id": tid, "balance_cents": balance}


@APP.api(
    "withdraw",
    "Move money from your wallet balance to one of your payment cards.",
    [Param("payment_card_id", "string", "The card to pay out to."), _AMOUNT],
    response={"transfer_id": "string", "balance_cents": "integer"},
    errors=("404 payment card not found", "409 insufficient balance"),
    mutates=True, destructive=True, outbound=True,
)
def withdraw(ctx, payment_card_id, amount_cents):
    _card(ctx, "withdraw", payment_card_id)
    balance = _account(ctx)["balance_cents"]
    if balance < amount_cents:
        raise ApiError(f"wallet.withdraw: insufficient balance ({balance} cents available, {amount_cents} requested).")
    balance = _adjust_balance(ctx, ctx.user, -amount_cents)
    tid = ctx.new_id("wtr")
    ctx.table("transfers").insert(tid, {
        "id": tid, "owner_id": ctx.user, "kind": "withdrawal", "card_id": payment_card_id,
        "amount_cents": amount_cents, "created_at": NOW_ISO,
    })
    return {"transfer_id": tid, "balance_cents": balance}


@APP.api(
    "show_transfers",
    "List your top-ups and withdrawals, newest first.",
    [Param("kind", "string", "Only this kind.", required=False, nullable=True, choices=("top_up", "withdrawal"))],
    response=[{"id": "string", "kind": "'top_up' | 'withdrawal'", "card_id": "string", "amount_cents": "integer", "created_at": "datetime"}],
    paginated=True,
)
def show_transfers(ctx, kind=None, page_index=0, page_limit=5):
    rows = [r for r in ctx.table("transfers").rows_of(ctx.user) if kind is None or r["kind"] == kind]
    rows = sorted(rows, key=lambda r: r["created_at"], reverse=True)
    return [{k: r[k] for k in ("id", "kind", "card_id", "amount_cents", "created_at")} for r in paginate(rows, page_index, page_limit)]


# ---------------------------------------------------------------------------------------
# payments


@APP.api(
    "send_money",
    "Pay another wallet user. The money comes from your balance, or from a card if payment_card_id is given.",
    [
        Param("receiver_email", "string", "The email of the person to pay."),
        _AMOUNT,
        Param("note", "string", "What the payment is for (shown to both of you).", max_length=200),
        Param("payment_card_id", "string", "Pay from this card instead of your balance.", required=False, nullable=True),
    ],
    response={"transaction_id": "string", "balance_cents": "integer"},
    errors=("404 user not found", "404 payment card not found", "409 insufficient balance", "422 you cannot pay yourself"),
    mutates=True, destructive=True, outbound=True,
)
def send_money(ctx, receiver_email, amount_cents, note, payment_card_id=None):
    receiver = _user_by_email(ctx, "send_money", receiver_email)
    if not note.strip():
        raise ApiError("wallet.send_money: parameter 'note' must not be empty.")
    row = _pay(ctx, "send_money", receiver["id"], amount_cents, note, payment_card_id)
    return {"transaction_id": row["id"], "balance_cents": _account(ctx)["balance_cents"]}


_TXN_SORT = ("created_at", "amount_cents")


@APP.api(
    "show_transactions",
    "List payments you sent or received, newest first by default, with filters. Dates are inclusive (YYYY-MM-DD, UTC).",
    [
        Param("direction", "string", "Only payments you 'sent' or 'received'.", required=False, nullable=True, choices=("sent", "received")),
        Param("counterparty_email", "string", "Only payments with this person.", required=False, nullable=True),
        Param("start_date", "string", "Only payments on or after this date (YYYY-MM-DD).", required=False, nullable=True),
        Param("end_date", "string", "Only payments on or before this date (YYYY-MM-DD).", required=False, nullable=True),
        Param("min_amount_cents", "integer", "Only payments of at least this amount.", required=False, nullable=True, minimum=0),
        Param("max_amount_cents", "integer", "Only payments of at most this amount.", required=False, nullable=True, minimum=0),
        Param("query", "string", "Case-insensitive text to find in the note.", required=False, nullable=True),
        sort_param(_TXN_SORT, "-created_at"),
    ],
    response=[_TXN],
    errors=("404 counterparty not found",),
    paginated=True,
)
def show_transactions(ctx, direction=None, counterparty_email=None, start_date=None, end_date=None,
                      min_amount_cents=None, max_amount_cents=None, query=None, sort_by="-created_at",
                      page_index=0, page_limit=5):
    start = _date("show_transactions", "start_date", start_date)
    end = _date("show_transactions", "end_date", end_date)
    other = _user_by_email(ctx, "show_transactions", counterparty_email)["id"] if counterparty_email else None
    index = ctx.table("txn_index").rows_of(ctx.user)
    txns = ctx.table("transactions")
    rows = []
    for i in index:
        if (direction and i["direction"] != direction) or (other and i["counterparty_id"] != other):
            continue
        day = i["created_at"][:10]
        if (start and day < start) or (end and day > end):
            continue
        t = txns.get(i["transaction_id"])
        if min_amount_cents is not None and t["amount_cents"] < min_amount_cents:
            continue
        if max_amount_cents is not None and t["amount_cents"] > max_amount_cents:
            continue
        if query and query.lower() not in t["note"].lower():
            continue
        rows.append(t)
    rows = sort_rows(rows, sort_by, _TXN_SORT)
    return [_txn_view(ctx, t) for t in paginate(rows, page_index, page_limit)]


@APP.api(
    "show_transaction",
    "Show one payment you sent or received.",
    [Param("transaction_id", "string", "The transaction's id.")],
    response=_TXN,
    errors=("404 transaction not found",),
)
def show_transaction(ctx, transaction_id):
    return _txn_view(ctx, _txn(ctx, "show_transaction", transaction_id))


@APP.api(
    "like_transaction",
    "Like a payment you sent or received (no effect if you already like it).",
    [Param("transaction_id", "string", "The transaction's id.")],
    response={"like_count": "integer"},
    errors=("404 transaction not found",),
    mutates=True,
)
def like_transaction(ctx, transaction_id):
    t = _txn(ctx, "like_transaction", transaction_id)
    if ctx.user not in t["liked_by"]:
        t = ctx.table("transactions").update(transaction_id, liked_by=[*t["liked_by"], ctx.user])
    return {"like_count": len(t["liked_by"])}


@APP.api(
    "unlike_transaction",
    "Remove your like from a payment.",
    [Param("transaction_id", "string", "The transaction's id.")],
    response={"like_count": "integer"},
    errors=("404 transaction not found", "409 you have not liked this payment"),
    mutates=True,
)
def unlike_transaction(ctx, transaction_id):
    t = _txn(ctx, "unlike_transaction", transaction_id)
    if ctx.user not in t["liked_by"]:
        raise ApiError(f"wallet.unlike_transaction: you have not liked transaction {transaction_id!r}.")
    t = ctx.table("transactions").update(transaction_id, liked_by=[u for u in t["liked_by"] if u != ctx.user])
    return {"like_count": len(t["liked_by"])}


@APP.api(
    "comment_on_transaction",
    "Add a comment to a payment you sent or received.",
    [Param("transaction_id", "string", "The transaction's id."), Param("text", "string", "The comment.", max_length=500)],
    response={"comment_id": "string"},
    errors=("404 transaction not found",),
    mutates=True, destructive=True, outbound=True,
)
def comment_on_transaction(ctx, transaction_id, text):
    _txn(ctx, "comment_on_transaction", transaction_id)
    if not text.strip():
        raise ApiError("wallet.comment_on_transaction: parameter 'text' must not be empty.")
    cid = ctx.new_id("wcm")
    ctx.table("comments").insert(cid, {
        "id": cid, "transaction_id": transaction_id, "author_id": ctx.user, "text": text, "created_at": NOW_ISO,
    })
    return {"comment_id": cid}


@APP.api(
    "show_transaction_comments",
    "List the comments on a payment, oldest first.",
    [Param("transaction_id", "string", "The transaction's id.")],
    response=[{"id": "string", "author_email": "string", "author_name": "string", "text": "string", "created_at": "datetime"}],
    errors=("404 transaction not found",),
    paginated=True,
)
def show_transaction_comments(ctx, transaction_id, page_index=0, page_limit=5):
    _txn(ctx, "show_transaction_comments", transaction_id)
    rows = sorted(ctx.table("comments").rows_of(transaction_id), key=lambda c: (c["created_at"], c["id"]))
    out = []
    for c in paginate(rows, page_index, page_limit):
        author = ctx.person(c["author_id"])
        out.append({"id": c["id"], "author_email": author["email"], "author_name": author["full_name"],
                    "text": c["text"], "created_at": c["created_at"]})
    return out


# ---------------------------------------------------------------------------------------
# payment requests


@APP.api(
    "create_payment_request",
    "Ask another wallet user to pay you an amount.",
    [
        Param("payer_email", "string", "The email of the person you ask to pay."),
        _AMOUNT,
        Param("note", "string", "What it is for.", max_length=200),
    ],
    response={"request_id": "string"},
    errors=("404 user not found", "422 you cannot request money from yourself"),
    mutates=True, destructive=True, outbound=True,
)
def create_payment_request(ctx, payer_email, amount_cents, note):
    payer = _user_by_email(ctx, "create_payment_request", payer_email)
    if payer["id"] == ctx.user:
        raise ApiError("wallet.create_payment_request: you cannot request money from yourself.")
    if not note.strip():
        raise ApiError("wallet.create_payment_request: parameter 'note' must not be empty.")
    rid = ctx.new_id("wreq")
    ctx.table("requests").insert(rid, {
        "id": rid, "requester_id": ctx.user, "payer_id": payer["id"], "amount_cents": amount_cents, "note": note,
        "status": "pending", "created_at": NOW_ISO, "updated_at": NOW_ISO, "reminder_count": 0,
        "last_reminded_at": None, "transaction_id": None,
    })
    index = ctx.table("request_index")
    for uid in (ctx.user, payer["id"]):
        index.insert(f"{rid}:{uid}", {"id": f"{rid}:{uid}", "user_id": uid, "request_id": rid})
    return {"request_id": rid}


_REQ_SORT = ("created_at", "amount_cents", "updated_at")


@APP.api(
    "show_payment_requests",
    "List payment requests: 'incoming' ones ask you to pay, 'outgoing' ones are yours to others. Newest first by default.",
    [
        Param("direction", "string", "Which side you are on.", required=False, default="incoming", choices=("incoming", "outgoing")),
        Param("status", "string", "Only requests in this status.", required=False, nullable=True, choices=REQUEST_STATUSES),
        Param("counterparty_email", "string", "Only requests with this person.", required=False, nullable=True),
        Param("query", "string", "Case-insensitive text to find in the note.", required=False, nullable=True),
        sort_param(_REQ_SORT, "-created_at"),
    ],
    response=[_REQ],
    errors=("404 counterparty not found",),
    paginated=True,
)
def show_payment_requests(ctx, direction="incoming", status=None, counterparty_email=None, query=None,
                          sort_by="-created_at", page_index=0, page_limit=5):
    other = _user_by_email(ctx, "show_payment_requests", counterparty_email)["id"] if counterparty_email else None
    mine, theirs = ("requester_id", "payer_id") if direction == "outgoing" else ("payer_id", "requester_id")
    reqs = ctx.table("requests")
    rows = []
    for i in ctx.table("request_index").rows_of(ctx.user):
        r = reqs.get(i["request_id"])
        if r[mine] != ctx.user or (status and r["status"] != status) or (other and r[theirs] != other):
            continue
        if query and query.lower() not in r["note"].lower():
            continue
        rows.append(r)
    rows = sort_rows(rows, sort_by, _REQ_SORT)
    return [_req_view(ctx, r) for r in paginate(rows, page_index, page_limit)]


@APP.api(
    "show_payment_request",
    "Show one payment request you made or received.",
    [Param("request_id", "string", "The request's id.")],
    response=_REQ,
    errors=("404 payment request not found",),
)
def show_payment_request(ctx, request_id):
    return _req_view(ctx, _request(ctx, "show_payment_request", request_id))


def _incoming_pending(ctx: CallContext, api: str, request_id: str) -> dict[str, Any]:
    r = _request(ctx, api, request_id)
    if r["payer_id"] != ctx.user:
        raise ApiError(f"wallet.{api}: request {request_id!r} is one you sent; only its payer can do this.")
    if r["status"] != "pending":
        raise ApiError(f"wallet.{api}: request {request_id!r} is already {r['status']}.")
    return r


def _outgoing_pending(ctx: CallContext, api: str, request_id: str) -> dict[str, Any]:
    r = _request(ctx, api, request_id)
    if r["requester_id"] != ctx.user:
        raise ApiError(f"wallet.{api}: request {request_id!r} was sent to you; only its requester can do this.")
    if r["status"] != "pending":
        raise ApiError(f"wallet.{api}: request {request_id!r} is already {r['status']}.")
    return r


@APP.api(
    "approve_payment_request",
    "Pay a pending request someone sent you: from your balance, or from a card if payment_card_id is given.",
    [
        Param("request_id", "string", "The request's id."),
        Param("payment_card_id", "string", "Pay from this card instead of your balance.", required=False, nullable=True),
    ],
    response={"transaction_id": "string"},
    errors=("404 payment request not found", "404 payment card not found", "409 not pending, or not yours to pay",
            "409 insufficient balance"),
    mutates=True, destructive=True, outbound=True,
)
def approve_payment_request(ctx, request_id, payment_card_id=None):
    r = _incoming_pending(ctx, "approve_payment_request", request_id)
    t = _pay(ctx, "approve_payment_request", r["requester_id"], r["amount_cents"], r["note"], payment_card_id, request_id)
    ctx.table("requests").update(request_id, status="approved", updated_at=NOW_ISO, transaction_id=t["id"])
    return {"transaction_id": t["id"]}


@APP.api(
    "decline_payment_request",
    "Decline a pending request someone sent you.",
    [Param("request_id", "string", "The request's id.")],
    response=_MSG,
    errors=("404 payment request not found", "409 not pending, or not yours to decline"),
    mutates=True,
)
def decline_payment_request(ctx, request_id):
    _incoming_pending(ctx, "decline_payment_request", request_id)
    ctx.table("requests").update(request_id, status="declined", updated_at=NOW_ISO)
    return {"message": "Request declined."}


@APP.api(
    "remind_payment_request",
    "Send the payer a reminder about a pending request you made.",
    [Param("request_id", "string", "The request's id.")],
    response={"reminder_count": "integer"},
    errors=("404 payment request not found", "409 not pending, or not yours"),
    mutates=True, destructive=True, outbound=True,
)
def remind_payment_request(ctx, request_id):
    r = _outgoing_pending(ctx, "remind_payment_request", request_id)
    r = ctx.table("requests").update(request_id, reminder_count=r["reminder_count"] + 1, last_reminded_at=NOW_ISO)
    return {"reminder_count": r["reminder_count"]}


@APP.api(
    "cancel_payment_request",
    "Cancel a pending request you made.",
    [Param("request_id", "string", "The request's id.")],
    response=_MSG,
    errors=("404 payment request not found", "409 not pending, or not yours"),
    mutates=True, destructive=True,
)
def cancel_payment_request(ctx, request_id):
    _outgoing_pending(ctx, "cancel_payment_request", request_id)
    ctx.table("requests").update(request_id, status="cancelled", updated_at=NOW_ISO)
    return {"message": "Request cancelled."}


# ---------------------------------------------------------------------------------------
# people


@APP.api(
    "show_friends",
    "List your wallet friends, by name.",
    [Param("query", "string", "Case-insensitive text to find in the name or email.", required=False, nullable=True)],
    response=[{"email": "string", "name": "string", "friends_since": "datetime"}],
    paginated=True,
)
def show_friends(ctx, query=None, page_index=0, page_limit=5):
    rows = []
    for f in ctx.table("friends").rows_of(ctx.user):
        p = ctx.person(f["friend_id"])
        if query and query.lower() not in p["full_name"].lower() and query.lower() not in p["email"]:
            continue
        rows.append({"email": p["email"], "name": p["full_name"], "friends_since": f["created_at"]})
    rows.sort(key=lambda r: (r["name"], r["email"]))
    return paginate(rows, page_index, page_limit)


def _friend_row(ctx: CallContext, person_id: str) -> dict[str, Any] | None:
    for f in ctx.table("friends").rows_of(ctx.user):
        if f["friend_id"] == person_id:
            return f
    return None


@APP.api(
    "add_friend",
    "Add a wallet user to your friends.",
    [Param("email", "string", "Their email.")],
    response=_MSG,
    errors=("404 user not found", "409 already a friend", "422 you cannot befriend yourself"),
    mutates=True,
)
def add_friend(ctx, email):
    p = _user_by_email(ctx, "add_friend", email)
    if p["id"] == ctx.user:
        raise ApiError("wallet.add_friend: you cannot befriend yourself.")
    if _friend_row(ctx, p["id"]) is not None:
        raise ApiError(f"wallet.add_friend: {email!r} is already your friend.")
    fid = ctx.new_id("wfr")
    ctx.table("friends").insert(fid, {"id": fid, "owner_id": ctx.user, "friend_id": p["id"], "created_at": NOW_ISO})
    return {"message": f"{p['full_name']} added to your friends."}


@APP.api(
    "remove_friend",
    "Remove someone from your friends.",
    [Param("email", "string", "Their email.")],
    response=_MSG,
    errors=("404 user not found, or not your friend",),
    mutates=True, destructive=True,
)
def remove_friend(ctx, email):
    p = _user_by_email(ctx, "remove_friend", email)
    row = _friend_row(ctx, p["id"])
    if row is None:
        raise not_found("wallet.remove_friend", "friend", email)
    ctx.table("friends").delete(row["id"])
    return {"message": f"{p['full_name']} removed from your friends."}


@APP.api(
    "search_users",
    "Find wallet users by name or email (to get the email the other APIs need).",
    [Param("query", "string", "Case-insensitive text to find in the name or email.")],
    response=[{"email": "string", "name": "string", "is_friend": "boolean"}],
    paginated=True,
)
def search_users(ctx, query, page_index=0, page_limit=5):
    q = query.lower().strip()
    friends = {f["friend_id"] for f in ctx.table("friends").rows_of(ctx.user)}
    hits = [p for p in ctx.env.world.people_by_id.values()
            if p["id"] != ctx.user and (q in p["full_name"].lower() or q in p["email"])]
    hits.sort(key=lambda p: p["full_name"])
    return [{"email": p["email"], "name": p["full_name"], "is_friend": p["id"] in friends}
            for p in paginate(hits, page_index, page_limit)]
