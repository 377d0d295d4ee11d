"""`splitbill`: shared expenses in groups (trips, flats, friends), balances and settling up.

Money is integer cents. An equal split gives every participant ``amount // n`` cents and
the ``amount % n`` remainder cents go one each to the first participants in the group's
member order, so a split always sums to the amount and never depends on chance.
``memberships`` is a derived per-user index of groups (ephemeral: grading ignores it).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import Any

from skillbank.worlds.apps.context import CallContext
from skillbank.worlds.base import ApiError
from skillbank.worlds.engine.api import (
    NOW,
    NOW_ISO,
    TODAY,
    AppDef,
    Param,
    not_found,
    paginate,
    sort_param,
    sort_rows,
    stable_id,
)

APP = AppDef(
    "splitbill",
    "Split shared expenses in groups (trips, flats, friends): add expenses split equally or by exact amounts, "
    "see who owes whom, settle up, comment. Amounts are integer cents.",
)
TABLES = {
    "groups": "created_by",
    "memberships": "user_id",
    "expenses": "group_id",
    "settlements": "group_id",
    "comments": "expense_id",
}
CATEGORIES = ("food", "groceries", "rent", "utilities", "transport", "lodging", "entertainment", "other")
GROUP_KINDS = ("trip", "home", "friends", "other")

_EXPENSES = {
    "trip": (
        ("Airbnb", "lodging", 30000, 120000), ("Rental car", "transport", 12000, 40000),
        ("Dinner at {place}", "food", 4000, 16000), ("Groceries", "groceries", 2500, 12000),
        ("Museum tickets", "entertainment", 2000, 9000), ("Fuel", "transport", 3000, 9000),
        ("Boat tour", "entertainment", 6000, 20000), ("Lunch at {place}", "food", 2500, 9000),
    ),
    "home": (
        ("Rent {month}", "rent", 90000, 180000), ("Electricity bill", "utilities", 4000, 14000),
        ("Internet", "utilities", 3000, 7000), ("Groceries", "groceries", 2000, 15000),
        ("Cleaning supplies", "other", 800, 4000), ("Water bill", "utilities", 2000, 6000),
        ("Takeaway from {place}", "food", 2000, 6000),
    ),
    "friends": (
        ("Pizza night", "food", 2500, 9000), ("Concert tickets", "entertainment", 8000, 30000),
        ("Bowling", "entertainment", 3000, 9000), ("Drinks at {place}", "food", 2500, 12000),
        ("Taxi home", "transport", 1500, 6000), ("Board games", "entertainment", 2500, 8000),
        ("Brunch at {place}", "food", 3000, 11000),
    ),
}
_PLACES = ("Lupa", "The Anchor", "Casa Verde", "Blue Door", "Sakura", "Old Mill", "Fig & Olive", "Harbour Grill")
_MONTHS = ("January", "February", "March", "April", "May")
_STREETS = ("Harbour Street", "Maple Avenue", "Elm Court", "Ridge Road", "Canal Walk", "Birch Lane", "Quay Side")
_THEMES = (
    "Ski weekend", "Book club", "Board game nights", "Camping trip", "Concert crew", "Climbing gym",
    "Beach house", "Running club", "Supper club", "Road trip",
)
_COMMENTS = ("Thanks for covering!", "I'll pay you back Friday", "Was the tip included?", "Receipt in the chat",
             "Worth every cent", "Can we split this differently?")
_CITIES = ("Lisbon", "Oslo", "Toronto", "Austin", "Melbourne", "Nairobi", "Osaka", "Porto", "Seville", "Kyoto")


def equal_shares(amount_cents: int, participants: Sequence[str]) -> dict[str, int]:
    """Split `amount_cents` equally; remainder cents go to the first participants, in order."""
    base, remainder = divmod(amount_cents, len(participants))
    return {pid: base + (1 if k < remainder else 0) for k, pid in enumerate(participants)}


# ---------------------------------------------------------------------------------------
# seed data


def seed(b: Any, population: Any, rng: random.Random) -> None:
    b.table("splitbill", "memberships", TABLES["memberships"], ephemeral=True)
    people = population.people
    by_id = {p.id: p for p in people}
    groups: list[tuple[str, str, list[str]]] = []  # (name, kind, members)
    families: dict[str, list[str]] = {}
    for p in people:
        family = [p.id] + [o for o, r in p.relationships.items() if r == "family"]
        families.setdefault(min(family), sorted(family))
    for members in families.values():
        if len(members) >= 2:
            last = by_id[members[0]].last_name
            groups.append((f"{last} family trip to {rng.choice(_CITIES)}", "trip", members))
    streets = list(_STREETS)
    rng.shuffle(streets)
    seen: set[str] = set()
    for p in people:
        for o, r in p.relationships.items():
            if r == "roommate" and p.id < o:
                street = streets[len(seen) % len(streets)]
                seen.add(street)
                groups.append((f"{street} flat", "home", [p.id, o]))
    names: set[str] = {g[0] for g in groups}
    for p in people:
        pals = [o for o, r in p.relationships.items() if r in ("friend", "coworker")]
        if rng.random() < 0.45 and len(pals) >= 2:
            name = rng.choice(_THEMES)
            k = 2
            while name in names:
                name = f"{rng.choice(_THEMES)} {k}"
                k += 1
            names.add(name)
            groups.append((name, "friends", [p.id, *rng.sample(pals, min(len(pals), rng.randint(2, 4)))]))

    for gi, (name, kind, members) in enumerate(groups):
        gid = stable_id("sgrp", gi, name)
        created = NOW - dt.timedelta(days=rng.randrange(160, 400))
        b.add("splitbill", "groups", gid, {
            "id": gid, "name": name, "kind": kind, "member_ids": list(members), "created_by": members[0],
            "created_at": created.isoformat(),
        })
        for m in members:
            b.add("splitbill", "memberships", f"{gid}:{m}", {"id": f"{gid}:{m}", "user_id": m, "group_id": gid})
        expenses: list[dict[str, Any]] = []
        for k in range(rng.randint(8, 24)):
            desc, category, lo, hi = rng.choice(_EXPENSES[kind])
            desc = desc.format(place=rng.choice(_PLACES), month=rng.choice(_MONTHS))
            amount = rng.randrange(lo, hi)
            payer = rng.choice(members)
            roll = rng.random()
            if roll < 0.75 or len(members) == 2:
                split_type, shares = "equal", equal_shares(amount, members)
            elif roll < 0.87:
                subset = [m for m in members if m == payer or rng.random() < 0.6]
                if len(subset) < 2:
                    subset = members[:2] if payer in members[:2] else [members[0], payer]
                split_type, shares = "equal", equal_shares(amount, [m for m in members if m in subset])
            else:
                cuts = sorted(rng.sample(range(1, amount), len(members) - 1))
                parts = [hi_ - lo_ for lo_, hi_ in zip([0, *cuts], [*cuts, amount])]
                split_type, shares = "exact", dict(zip(members, parts))
            day = TODAY - dt.timedelta(days=min(int(rng.expovariate(1 / 50)), 150))
            at = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC) + dt.timedelta(minutes=rng.randrange(0, 600))
            at = min(at, NOW - dt.timedelta(minutes=5))
            eid = stable_id("sexp", gid, k)
            row = {
                "id": eid, "group_id": gid, "description": desc, "category": category, "amount_cents": amount,
                "paid_by": payer, "split_type": split_type, "shares": shares, "date": day.isoformat(),
                "created_by": payer, "created_at": at.isoformat(), "updated_at": at.isoformat(),
            }
            expenses.append(row)
            b.add("splitbill", "expenses", eid, row)
            if rng.random() < 0.15:
                cid = stable_id("scm", eid)
                b.add("splitbill", "comments", cid, {
                    "id": cid, "expense_id": eid, "author_id": rng.choice(members), "text": rng.choice(_COMMENTS),
                    "created_at": at.isoformat(),
                })
        # someone entered the same receipt twice
        if rng.random() < 0.35:
            for j, orig in enumerate(rng.sample(expenses, rng.randint(1, 2))):
                eid = stable_id("sexp", gid, "dup", j)
                later = (dt.datetime.fromisoformat(orig["created_at"]) + dt.timedelta(minutes=rng.randint(1, 3))).isoformat()
                b.add("splitbill", "expenses", eid, {**orig, "id": eid, "created_at": later, "updated_at": later})
        for k in range(rng.choice((0, 0, 1, 2))):
            a, c = rng.sample(members, 2)
            sid = stable_id("sset", gid, k)
            day = TODAY - dt.timedelta(days=rng.randrange(1, 120))
            b.add("splitbill", "settlements", sid, {
                "id": sid, "group_id": gid, "from_id": a, "to_id": c, "amount_cents": rng.randrange(10, 60) * 100,
                "date": day.isoformat(), "note": "settling up", "created_by": a, "created_at": f"{day.isoformat()}T18:00:00+00:00",
            })


# ---------------------------------------------------------------------------------------
# helpers


def _date(api: str, name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        if len(value) != 10:
            raise ValueError
        dt.date.fromisoformat(value)
    except ValueError:
        raise ApiError(f"splitbill.{api}: parameter '{name}' must be a date YYYY-MM-DD, got {value!r}.") from None
    return value


def _group(ctx: CallContext, api: str, group_id: str) -> dict[str, Any]:
    g = ctx.table("groups").get(group_id)
    if g is None or ctx.user not in g["member_ids"]:
        raise not_found(f"splitbill.{api}", "group", group_id)
    return g


def _expense(ctx: CallContext, api: str, expense_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    e = ctx.table("expenses").get(expense_id)
    g = ctx.table("groups").get(e["group_id"]) if e else None
    if e is None or g is None or ctx.user not in g["member_ids"]:
        raise not_found(f"splitbill.{api}", "expense", expense_id)
    return e, g


def _member(ctx: CallContext, api: str, group: dict[str, Any], email: str, param: str) -> str:
    p = ctx.person_by_email(email)
    if p is None:
        raise not_found(f"splitbill.{api}", "user with email", email)
    if p["id"] not in group["member_ids"]:
        raise ApiError(f"splitbill.{api}: parameter '{param}': {email!r} is not a member of group {group['name']!r}.")
    return p["id"]


def _who(ctx: CallContext, pid: str) -> dict[str, str]:
    p = ctx.person(pid)
    return {"email": p["email"], "name": p["full_name"]}


def _group_view(ctx: CallContext, g: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": g["id"], "name": g["name"], "kind": g["kind"], "created_at": g["created_at"],
        "created_by_email": ctx.person(g["created_by"])["email"],
        "members": [_who(ctx, m) for m in g["member_ids"]],
    }


def _expense_view(ctx: CallContext, e: dict[str, Any], g: dict[str, Any]) -> dict[str, Any]:
    payer = ctx.person(e["paid_by"])
    order = {m: k for k, m in enumerate(g["member_ids"])}
    shares = sorted(e["shares"].items(), key=lambda kv: order.get(kv[0], len(order)))
    return {
        "id": e["id"], "group_id": e["group_id"], "description": e["description"], "category": e["category"],
        "amount_cents": e["amount_cents"], "paid_by_email": payer["email"], "paid_by_name": payer["full_name"],
        "split_type": e["split_type"], "shares": [{**_who(ctx, pid), "share_cents": c} for pid, c in shares],
        "your_share_cents": e["shares"].get(ctx.user, 0), "date": e["date"], "created_at": e["created_at"],
        "updated_at": e["updated_at"], "comment_count": len(ctx.table("comments").rows_of(e["id"])),
    }


def _settlement_view(ctx: CallContext, s: dict[str, Any]) -> dict[str, Any]:
    frm, to = ctx.person(s["from_id"]), ctx.person(s["to_id"])
    return {
        "id": s["id"], "group_id": s["group_id"], "from_email": frm["email"], "from_name": frm["full_name"],
        "to_email": to["email"], "to_name": to["full_name"], "amount_cents": s["amount_cents"], "date": s["date"],
        "note": s["note"], "created_at": s["created_at"],
    }


def _owed(ctx: CallContext, group_id: str, me: str) -> dict[str, int]:
    """What `me` owes each other member (negative: they owe `me`), pair by pair."""
    owe: dict[str, int] = {}
    for e in ctx.table("expenses").rows_of(group_id):
        payer = e["paid_by"]
        if payer == me:
            for pid, c in e["shares"].items():
                if pid != me:
                    owe[pid] = owe.get(pid, 0) - c
        elif me in e["shares"]:
            owe[payer] = owe.get(payer, 0) + e["shares"][me]
    for s in ctx.table("settlements").rows_of(group_id):
        if s["from_id"] == me:
            owe[s["to_id"]] = owe.get(s["to_id"], 0) - s["amount_cents"]
        elif s["to_id"] == me:
            owe[s["from_id"]] = owe.get(s["from_id"], 0) + s["amount_cents"]
    return owe


def _nets(ctx: CallContext, group: dict[str, Any]) -> dict[str, int]:
    """Each member's net: positive means the group owes them."""
    net = {m: 0 for m in group["member_ids"]}
    for e in ctx.table("expenses").rows_of(group["id"]):
        net[e["paid_by"]] = net.get(e["paid_by"], 0) + e["amount_cents"]
        for pid, c in e["shares"].items():
            net[pid] = net.get(pid, 0) - c
    for s in ctx.table("settlements").rows_of(group["id"]):
        net[s["from_id"]] = net.get(s["from_id"], 0) + s["amount_cents"]
        net[s["to_id"]] = net.get(s["to_id"], 0) - s["amount_cents"]
    return net


def _shares(ctx: CallContext, api: str, group: dict[str, Any], amount: int, split_type: str,
            split_with: list[str] | None, exact: dict[str, Any] | None) -> dict[str, int]:
    if split_type == "equal":
        if exact is not None:
            raise ApiError(f"splitbill.{api}: parameter 'exact_shares' is only for split_type 'exact'.")
        if split_with is None:
            chosen = list(group["member_ids"])
        else:
            ids = {_member(ctx, api, group, e, "split_with_emails") for e in split_with}
            if not ids:
                raise ApiError(f"splitbill.{api}: parameter 'split_with_emails' must name at least one member.")
            chosen = [m for m in group["member_ids"] if m in ids]
        return equal_shares(amount, chosen)
    if split_with is not None:
        raise ApiError(f"splitbill.{api}: parameter 'split_with_emails' is only for split_type 'equal'; use 'exact_shares'.")
    if not exact:
        raise ApiError(f"splitbill.{api}: parameter 'exact_shares' is required for split_type 'exact' ({{email: cents}}).")
    shares: dict[str, int] = {}
    for email, cents in exact.items():
        if not isinstance(cents, int) or isinstance(cents, bool) or cents < 0:
            raise ApiError(f"splitbill.{api}: parameter 'exact_shares': share of {email!r} must be a non-negative integer of cents.")
        shares[_member(ctx, api, group, email, "exact_shares")] = cents
    total = sum(shares.values())
    if total != amount:
        raise ApiError(f"splitbill.{api}: parameter 'exact_shares' sums to {total} cents but amount_cents is {amount}.")
    order = {m: k for k, m in enumerate(group["member_ids"])}
    return dict(sorted(shares.items(), key=lambda kv: order[kv[0]]))


_WHO = {"email": "string", "name": "string"}
_GROUP = {"id": "string", "name": "string", "kind": "|".join(GROUP_KINDS), "created_at": "datetime",
          "created_by_email": "string", "members": [_WHO]}
_EXPENSE = {
    "id": "string", "group_id": "string", "description": "string", "category": "|".join(CATEGORIES),
    "amount_cents": "integer", "paid_by_email": "string", "paid_by_name": "string", "split_type": "'equal' | 'exact'",
    "shares": [{"email": "string", "name": "string", "share_cents": "integer"}], "your_share_cents": "integer",
    "date": "date", "created_at": "datetime", "updated_at": "datetime", "comment_count": "integer",
}
_SETTLEMENT = {"id": "string", "group_id": "string", "from_email": "string", "from_name": "string", "to_email": "string",
               "to_name": "string", "amount_cents": "integer", "date": "date", "note": "string", "created_at": "datetime"}
_GROUP_ID = Param("group_id", "string", "The group's id.")
_EXPENSE_ID = Param("expense_id", "string", "The expense's id.")
_MSG = {"message": "string"}

# ---------------------------------------------------------------------------------------
# account and groups


@APP.api(
    "show_account",
    "Show your splitbill account: name, email and how many groups you are in.",
    response={"name": "string", "email": "string", "group_count": "integer"},
)
def show_account(ctx):
    me = ctx.person(ctx.user)
    return {"name": me["full_name"], "email": me["email"], "group_count": len(ctx.table("memberships").rows_of(ctx.user))}


@APP.api(
    "show_groups",
    "List the groups you belong to, by name.",
    [
        Param("query", "string", "Case-insensitive text to find in the group name.", required=False, nullable=True),
        Param("kind", "string", "Only groups of this kind.", required=False, nullable=True, choices=GROUP_KINDS),
    ],
    response=[_GROUP],
    paginated=True,
)
def show_groups(ctx, query=None, kind=None, page_index=0, page_limit=5):
    groups = ctx.table("groups")
    rows = []
    for m in ctx.table("memberships").rows_of(ctx.user):
        g = groups.get(m["group_id"])
        if g is None or (kind and g["kind"] != kind) or (query and query.lower() not in g["name"].lower()):
            continue
        rows.append(g)
    rows.sort(key=lambda g: (g["name"], g["id"]))
    return [_group_view(ctx, g) for g in paginate(rows, page_index, page_limit)]


@APP.api("show_group", "Show one group and its members (in member order).", [_GROUP_ID], response=_GROUP,
         errors=("404 group not found",))
def show_group(ctx, group_id):
    return _group_view(ctx, _group(ctx, "show_group", group_id))


@APP.api(
    "create_group",
    "Create a group with you as its first member.",
    [
        Param("name", "string", "The group's name.", max_length=100),
        Param("kind", "string", "What the group is for.", required=False, default="other", choices=GROUP_KINDS),
        Param("member_emails", "list[string]", "Emails of the other members.", required=False, default=None, nullable=True),
    ],
    response={"group_id": "string"},
    errors=("404 user not found",),
    mutates=True, outbound=lambda a: bool(a.get("member_emails")),
)
def create_group(ctx, name, kind="other", member_emails=None):
    if not name.strip():
        raise ApiError("splitbill.create_group: parameter 'name' must not be empty.")
    members = [ctx.user]
    for email in member_emails or []:
        p = ctx.person_by_email(email)
        if p is None:
            raise not_found("splitbill.create_group", "user with email", email)
        if p["id"] not in members:
            members.append(p["id"])
    gid = ctx.new_id("sgrp")
    ctx.table("groups").insert(gid, {"id": gid, "name": name, "kind": kind, "member_ids": members,
                                     "created_by": ctx.user, "created_at": NOW_ISO})
    for m in members:
        ctx.table("memberships").insert(f"{gid}:{m}", {"id": f"{gid}:{m}", "user_id": m, "group_id": gid})
    return {"group_id": gid}


@APP.api(
    "add_group_member",
    "Add someone to a group you belong to (they join at the end of the member order).",
    [_GROUP_ID, Param("email", "string", "Their email.")],
    response=_MSG,
    errors=("404 group not found", "404 user not found", "409 already a member"),
    mutates=True, destructive=True, outbound=True,
)
def add_group_member(ctx, group_id, email):
    g = _group(ctx, "add_group_member", group_id)
    p = ctx.person_by_email(email)
    if p is None:
        raise not_found("splitbill.add_group_member", "user with email", email)
    if p["id"] in g["member_ids"]:
        raise ApiError(f"splitbill.add_group_member: {email!r} is already a member of {g['name']!r}.")
    ctx.table("groups").update(group_id, member_ids=[*g["member_ids"], p["id"]])
    ctx.table("memberships").insert(f"{group_id}:{p['id']}", {"id": f"{group_id}:{p['id']}", "user_id": p["id"], "group_id": group_id})
    return {"message": f"{p['full_name']} added to {g['name']}."}


@APP.api(
    "remove_group_member",
    "Remove a member from a group; only possible when their balance in the group is zero.",
    [_GROUP_ID, Param("email", "string", "Their email.")],
    response=_MSG,
    errors=("404 group not found", "404 user not found", "409 the member's balance is not zero"),
    mutates=True, destructive=True,
)
def remove_group_member(ctx, group_id, email):
    g = _group(ctx, "remove_group_member", group_id)
    pid = _member(ctx, "remove_group_member", g, email, "email")
    net = _nets(ctx, g).get(pid, 0)
    if net != 0:
        raise ApiError(f"splitbill.remove_group_member: {email!r} has a balance of {net} cents in {g['name']!r}; settle up first.")
    ctx.table("groups").update(group_id, member_ids=[m for m in g["member_ids"] if m != pid])
    ctx.table("memberships").delete(f"{group_id}:{pid}")
    return {"message": f"{email} removed from {g['name']}."}


# ---------------------------------------------------------------------------------------
# expenses

_EXP_SORT = ("date", "amount_cents", "created_at", "description")


@APP.api(
    "show_expenses",
    "List a group's expenses, newest date first by default, with filters. Dates are inclusive (YYYY-MM-DD).",
    [
        _GROUP_ID,
        Param("paid_by_email", "string", "Only expenses this member paid.", required=False, nullable=True),
        Param("involving_email", "string", "Only expenses this member paid or has a share in.", required=False, nullable=True),
        Param("category", "string", "Only this category.", required=False, nullable=True, choices=CATEGORIES),
        Param("start_date", "string", "Only expenses dated on or after this day.", required=False, nullable=True),
        Param("end_date", "string", "Only expenses dated on or before this day.", required=False, nullable=True),
        Param("query", "string", "Case-insensitive text to find in the description.", required=False, nullable=True),
        sort_param(_EXP_SORT, "-date"),
    ],
    response=[_EXPENSE],
    errors=("404 group not found", "404 user not found"),
    paginated=True,
)
def show_expenses(ctx, group_id, paid_by_email=None, involving_email=None, category=None, start_date=None,
                  end_date=None, query=None, sort_by="-date", page_index=0, page_limit=5):
    g = _group(ctx, "show_expenses", group_id)
    start = _date("show_expenses", "start_date", start_date)
    end = _date("show_expenses", "end_date", end_date)
    payer = _person_id(ctx, "show_expenses", paid_by_email)
    involved = _person_id(ctx, "show_expenses", involving_email)
    rows = []
    for e in ctx.table("expenses").rows_of(group_id):
        if (payer and e["paid_by"] != payer) or (involved and e["paid_by"] != involved and involved not in e["shares"]):
            continue
        if (category and e["category"] != category) or (start and e["date"] < start) or (end and e["date"] > end):
            continue
        if query and query.lower() not in e["description"].lower():
            continue
        rows.append(e)
    rows = sorted(rows, key=lambda e: e["created_at"], reverse=True)  # ties on date: newest entry first
    rows = sort_rows(rows, sort_by, _EXP_SORT)
    return [_expense_view(ctx, e, g) for e in paginate(rows, page_index, page_limit)]


def _person_id(ctx: CallContext, api: str, email: str | None) -> str | None:
    if email is None:
        return None
    p = ctx.person_by_email(email)
    if p is None:
        raise not_found(f"splitbill.{api}", "user with email", email)
    return p["id"]


@APP.api("show_expense", "Show one expense with its shares.", [_EXPENSE_ID], response=_EXPENSE,
         errors=("404 expense not found",))
def show_expense(ctx, expense_id):
    e, g = _expense(ctx, "show_expense", expense_id)
    return _expense_view(ctx, e, g)


_SPLIT_PARAMS = (
    Param("split_type", "string", "'equal' (remainder cents go to the first participants in member order) or 'exact'.",
          required=False, default="equal", choices=("equal", "exact")),
    Param("split_with_emails", "list[string]", "For 'equal': the members sharing it (default: every member).",
          required=False, default=None, nullable=True),
    Param("exact_shares", "object", "For 'exact': {member email: share in cents}; must sum to amount_cents.",
          required=False, default=None, nullable=True),
)


@APP.api(
    "add_expense",
    "Add a shared expense to a group.",
    [
        _GROUP_ID,
        Param("description", "string", "What it was.", max_length=200),
        Param("amount_cents", "integer", "Total in cents.", minimum=1, maximum=100_000_000),
        Param("paid_by_email", "string", "The member who paid (default: you).", required=False, nullable=True),
        *_SPLIT_PARAMS,
        Param("category", "string", "Category.", required=False, default="other", choices=CATEGORIES),
        Param("date", "string", "Day of the expense, YYYY-MM-DD (default: today).", required=False, nullable=True),
    ],
    response={"expense_id": "string", "shares": [{"email": "string", "share_cents": "integer"}]},
    errors=("404 group not found", "404 user not found", "422 not a member, or exact shares do not add up"),
    mutates=True, destructive=True, outbound=True,
)
def add_expense(ctx, group_id, description, amount_cents, paid_by_email=None, split_type="equal",
                split_with_emails=None, exact_shares=None, category="other", date=None):
    g = _group(ctx, "add_expense", group_id)
    if not description.strip():
        raise ApiError("splitbill.add_expense: parameter 'description' must not be empty.")
    day = _date("add_expense", "date", date) or TODAY.isoformat()
    payer = _member(ctx, "add_expense", g, paid_by_email, "paid_by_email") if paid_by_email else ctx.user
    shares = _shares(ctx, "add_expense", g, amount_cents, split_type, split_with_emails, exact_shares)
    eid = ctx.new_id("sexp")
    ctx.table("expenses").insert(eid, {
        "id": eid, "group_id": group_id, "description": description, "category": category,
        "amount_cents": amount_cents, "paid_by": payer, "split_type": split_type, "shares": shares, "date": day,
        "created_by": ctx.user, "created_at": NOW_ISO, "updated_at": NOW_ISO,
    })
    return {"expense_id": eid, "shares": [{"email": ctx.person(p)["email"], "share_cents": c} for p, c in shares.items()]}


@APP.api(
    "update_expense",
    "Change an expense. Changing the amount of an equal split re-splits it among the same people; "
    "an exact split needs new exact_shares.",
    [
        _EXPENSE_ID,
        Param("description", "string", "New description.", required=False, nullable=True, max_length=200),
        Param("amount_cents", "integer", "New total in cents.", required=False, nullable=True, minimum=1, maximum=100_000_000),
        Param("paid_by_email", "string", "New payer.", required=False, nullable=True),
        Param("split_type", "string", "New split type.", required=False, nullable=True, choices=("equal", "exact")),
        Param("split_with_emails", "list[string]", "For 'equal': new participants.", required=False, nullable=True),
        Param("exact_shares", "object", "For 'exact': {member email: cents}.", required=False, nullable=True),
        Param("category", "string", "New category.", required=False, nullable=True, choices=CATEGORIES),
        Param("date", "string", "New day, YYYY-MM-DD.", required=False, nullable=True),
    ],
    response=_EXPENSE,
    errors=("404 expense not found", "422 not a member, or exact shares do not add up"),
    mutates=True,
)
def update_expense(ctx, expense_id, description=None, amount_cents=None, paid_by_email=None, split_type=None,
                   split_with_emails=None, exact_shares=None, category=None, date=None):
    e, g = _expense(ctx, "update_expense", expense_id)
    fields: dict[str, Any] = {"updated_at": NOW_ISO}
    if description is not None:
        if not description.strip():
            raise ApiError("splitbill.update_expense: parameter 'description' must not be empty.")
        fields["description"] = description
    if category is not None:
        fields["category"] = category
    if date is not None:
        fields["date"] = _date("update_expense", "date", date)
    if paid_by_email is not None:
        fields["paid_by"] = _member(ctx, "update_expense", g, paid_by_email, "paid_by_email")
    amount = amount_cents if amount_cents is not None else e["amount_cents"]
    kind = split_type or e["split_type"]
    if amount_cents is not None or split_type is not None or split_with_emails is not None or exact_shares is not None:
        if kind == "equal" and split_with_emails is None and exact_shares is None:
            keep = [m for m in g["member_ids"] if m in e["shares"]] or list(g["member_ids"])
            split_with_emails = [ctx.person(m)["email"] for m in keep]
        if kind == "exact" and exact_shares is None:
            raise ApiError("splitbill.update_expense: parameter 'exact_shares' is required to change an exact split.")
        fields["shares"] = _shares(ctx, "update_expense", g, amount, kind, split_with_emails, exact_shares)
        fields["amount_cents"] = amount
        fields["split_type"] = kind
    new = ctx.table("expenses").update(expense_id, **fields)
    return _expense_view(ctx, new, g)


@APP.api("delete_expense", "Delete an expense from a group.", [_EXPENSE_ID], response=_MSG,
         errors=("404 expense not found",), mutates=True, destructive=True)
def delete_expense(ctx, expense_id):
    _expense(ctx, "delete_expense", expense_id)
    ctx.table("expenses").delete(expense_id)
    return {"message": "Expense deleted."}


@APP.api(
    "comment_on_expense",
    "Add a comment to an expense.",
    [_EXPENSE_ID, Param("text", "string", "The comment.", max_length=500)],
    response={"comment_id": "string"},
    errors=("404 expense not found",),
    mutates=True, destructive=True, outbound=True,
)
def comment_on_expense(ctx, expense_id, text):
    _expense(ctx, "comment_on_expense", expense_id)
    if not text.strip():
        raise ApiError("splitbill.comment_on_expense: parameter 'text' must not be empty.")
    cid = ctx.new_id("scm")
    ctx.table("comments").insert(cid, {"id": cid, "expense_id": expense_id, "author_id": ctx.user, "text": text,
                                       "created_at": NOW_ISO})
    return {"comment_id": cid}


@APP.api(
    "show_expense_comments",
    "List the comments on an expense, oldest first.",
    [_EXPENSE_ID],
    response=[{"id": "string", "author_email": "string", "author_name": "string", "text": "string", "created_at": "datetime"}],
    errors=("404 expense not found",),
    paginated=True,
)
def show_expense_comments(ctx, expense_id, page_index=0, page_limit=5):
    _expense(ctx, "show_expense_comments", expense_id)
    rows = sorted(ctx.table("comments").rows_of(expense_id), key=lambda c: (c["created_at"], c["id"]))
    out = []
    for c in paginate(rows, page_index, page_limit):
        out.append({"id": c["id"], **{f"author_{k}": v for k, v in _who(ctx, c["author_id"]).items()},
                    "text": c["text"], "created_at": c["created_at"]})
    return out


# ---------------------------------------------------------------------------------------
# balances and settling up


@APP.api(
    "show_balances",
    "Show a group's balances: each member's net (positive: the group owes them), and, pair by pair, "
    "whom you owe and who owes you (amounts > 0, in cents).",
    [_GROUP_ID],
    response={"group_id": "string", "members": [{"email": "string", "name": "string", "net_cents": "integer"}],
              "you_owe": [{"email": "string", "name": "string", "amount_cents": "integer"}],
              "owed_to_you": [{"email": "string", "name": "string", "amount_cents": "integer"}]},
    errors=("404 group not found",),
)
def show_balances(ctx, group_id):
    g = _group(ctx, "show_balances", group_id)
    nets = _nets(ctx, g)
    owed = _owed(ctx, group_id, ctx.user)
    order = [m for m in g["member_ids"] if m in owed] + [m for m in owed if m not in g["member_ids"]]
    return {
        "group_id": group_id,
        "members": [{**_who(ctx, m), "net_cents": nets.get(m, 0)} for m in g["member_ids"]],
        "you_owe": [{**_who(ctx, m), "amount_cents": owed[m]} for m in order if owed[m] > 0],
        "owed_to_you": [{**_who(ctx, m), "amount_cents": -owed[m]} for m in order if owed[m] < 0],
    }


@APP.api(
    "show_total_balances",
    "Your net balance in every group you belong to (positive: the group owes you).",
    response=[{"group_id": "string", "group_name": "string", "net_cents": "integer"}],
)
def show_total_balances(ctx):
    groups = ctx.table("groups")
    out = []
    for m in ctx.table("memberships").rows_of(ctx.user):
        g = groups.get(m["group_id"])
        if g is not None:
            out.append({"group_id": g["id"], "group_name": g["name"], "net_cents": _nets(ctx, g).get(ctx.user, 0)})
    return sorted(out, key=lambda r: r["group_name"])


@APP.api(
    "settle_up",
    "Record a payment between two members of a group (by default from you), e.g. after paying them back elsewhere.",
    [
        _GROUP_ID,
        Param("to_email", "string", "The member who received the money."),
        Param("amount_cents", "integer", "Amount in cents.", minimum=1, maximum=100_000_000),
        Param("from_email", "string", "The member who paid (default: you).", required=False, nullable=True),
        Param("note", "string", "A note.", required=False, default="", max_length=200),
        Param("date", "string", "Day of the payment, YYYY-MM-DD (default: today).", required=False, nullable=True),
    ],
    response={"settlement_id": "string"},
    errors=("404 group not found", "404 user not found", "422 not a member, or paying yourself"),
    mutates=True, destructive=True, outbound=True,
)
def settle_up(ctx, group_id, to_email, amount_cents, from_email=None, note="", date=None):
    g = _group(ctx, "settle_up", group_id)
    to = _member(ctx, "settle_up", g, to_email, "to_email")
    frm = _member(ctx, "settle_up", g, from_email, "from_email") if from_email else ctx.user
    if to == frm:
        raise ApiError("splitbill.settle_up: 'from' and 'to' are the same member.")
    day = _date("settle_up", "date", date) or TODAY.isoformat()
    sid = ctx.new_id("sset")
    ctx.table("settlements").insert(sid, {
        "id": sid, "group_id": group_id, "from_id": frm, "to_id": to, "amount_cents": amount_cents, "date": day,
        "note": note, "created_by": ctx.user, "created_at": NOW_ISO,
    })
    return {"settlement_id": sid}


@APP.api(
    "show_settlements",
    "List a group's recorded payments between members, newest first.",
    [_GROUP_ID],
    response=[_SETTLEMENT],
    errors=("404 group not found",),
    paginated=True,
)
def show_settlements(ctx, group_id, page_index=0, page_limit=5):
    _group(ctx, "show_settlements", group_id)
    rows = sorted(ctx.table("settlements").rows_of(group_id), key=lambda s: (s["date"], s["created_at"]), reverse=True)
    return [_settlement_view(ctx, s) for s in paginate(rows, page_index, page_limit)]


@APP.api(
    "delete_settlement",
    "Delete a recorded payment (only one you paid, received or recorded).",
    [Param("settlement_id", "string", "The settlement's id.")],
    response=_MSG,
    errors=("404 settlement not found",),
    mutates=True, destructive=True,
)
def delete_settlement(ctx, settlement_id):
    s = ctx.table("settlements").get(settlement_id)
    if s is None or ctx.user not in (s["from_id"], s["to_id"], s["created_by"]):
        raise not_found("splitbill.delete_settlement", "settlement", settlement_id)
    ctx.table("settlements").delete(settlement_id)
    return {"message": "Settlement deleted."}
