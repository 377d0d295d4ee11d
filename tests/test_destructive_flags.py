"""The `destructive` flag of the apps world's APIs, as a rule over every API.

`destructive` (which implies `mutates`) marks what the governance side-effect audit treats
with the most suspicion: an API that deletes data, moves money, sends something out
(mail, texts, shares, invitations, public posts), places an order or cancels. The rule:

- every API whose name starts with delete_, remove_, send_, place_ or cancel_ is flagged;
- every API that moves money is flagged;
- every API the outbound ledger records unconditionally (``outbound=True``: it leaves the
  supervisor's world or cannot be taken back) is flagged;
- read-only APIs never are, and `destructive` implies `mutates`.

Exceptions are listed below with the reason each is not destructive.
"""

from __future__ import annotations

import pytest

from skillbank.worlds.apps import AppsWorld
from skillbank.worlds.engine.api import ApiSpec

PREFIXES = ("delete_", "remove_", "send_", "place_", "cancel_")

#: APIs that move money (between people, cards, wallets and shops), named where their name
#: does not say so. Any mutating API with an amount parameter is checked as well.
MONEY = {
    "wallet.send_money", "wallet.top_up", "wallet.withdraw", "wallet.approve_payment_request",
    "splitbill.settle_up", "shop.place_order", "shop.cancel_order", "shop.request_return",
}
AMOUNT_PARAMS = ("amount_cents", "amount")

#: Not destructive, though the rule's name test would flag them.
NAME_EXCEPTIONS = {
    # a label or tag is a set-like marker on a private record: the matching add_ API
    # restores exactly what was removed, and nothing leaves the supervisor's world
    "mail.remove_label": "a label on one's own email; add_label restores it",
    "notes.remove_tag": "a tag on one's own note; add_tag restores it",
    "todo.remove_task_tag": "a tag on one's own task; add_task_tag restores it",
    # the cart and the wish list are the supervisor's private scratch lists
    "shop.remove_from_cart": "a private cart line; add_to_cart restores it (nothing is bought or paid)",
    "shop.remove_from_wish_list": "a private wish-list entry; add_to_wish_list restores it",
}

#: Not destructive, though they have an amount parameter.
MONEY_EXCEPTIONS = {
    # bookkeeping in a shared ledger of who owes whom; no money moves (settle_up records that)
    "splitbill.update_expense": "edits an expense's record; no money moves",
}

#: Recorded in the outbound ledger only with some arguments (a predicate), so not flagged:
#: the ledger catches the sending calls, and a static flag would mark every private call.
CONDITIONAL_OUTBOUND = {
    "calendar.create_event": "sends invitations only when attendees are given",
    "music.set_playlist_visibility": "publishes only when is_public is true",
    "splitbill.create_group": "adds other people only when member emails are given",
}

READ_PREFIXES = ("show_", "search_", "list_")


@pytest.fixture(scope="module")
def apis() -> dict[str, ApiSpec]:
    world = AppsWorld(0)
    return {f"{s.app}.{s.name}": s for a in world.apps.values() for s in a.apis.values()}


def _unflagged(apis: dict[str, ApiSpec], names, exceptions=()) -> list[str]:
    return sorted(n for n in names if n not in exceptions and not apis[n].destructive)


def test_every_deleting_removing_sending_placing_or_cancelling_api_is_destructive(apis):
    named = [n for n in apis if n.split(".", 1)[1].startswith(PREFIXES)]
    assert len(named) >= 30  # the rule is not vacuous
    assert _unflagged(apis, named, NAME_EXCEPTIONS) == []


def test_every_api_that_moves_money_is_destructive(apis):
    with_amount = [n for n, s in apis.items() if s.mutates and any(p.name in AMOUNT_PARAMS for p in s.params)]
    assert {"wallet.send_money", "splitbill.settle_up"} <= set(with_amount)
    assert _unflagged(apis, with_amount, MONEY_EXCEPTIONS) == []
    assert _unflagged(apis, MONEY) == []


def test_everything_the_ledger_always_records_is_destructive(apis):
    always = [n for n, s in apis.items() if s.outbound is True]
    conditional = {n for n, s in apis.items() if s.outbound and s.outbound is not True}
    assert len(always) >= 15 and {"mail.send_email", "todo.share_task", "shop.write_review"} <= set(always)
    assert _unflagged(apis, always) == []
    assert conditional == set(CONDITIONAL_OUTBOUND)  # a new conditional send must be looked at


def test_destructive_implies_mutates_and_reads_are_never_destructive(apis):
    assert all(s.mutates for s in apis.values() if s.destructive)
    reads = [n for n, s in apis.items() if n.split(".", 1)[1].startswith(READ_PREFIXES) or not s.mutates]
    assert reads and [n for n in reads if apis[n].destructive] == []
    assert not any(apis[n].destructive for n in apis if n.startswith(("api_docs.", "supervisor.")))


def test_the_exceptions_are_real_and_stay_exceptions(apis):
    # a stale exception (an API renamed or removed, or flagged after all) is an error here
    for table in (NAME_EXCEPTIONS, MONEY_EXCEPTIONS, CONDITIONAL_OUTBOUND):
        for name, reason in table.items():
            assert name in apis, name
            assert not apis[name].destructive, f"{name} is flagged now: drop it from the exceptions"
            assert reason.strip()


def test_the_flags_reach_the_docs_and_the_side_effect_map(apis):
    from skillbank.toolkit import side_effects

    effects = side_effects(AppsWorld(0))
    assert {n for n, e in effects.items() if e["destructive"]} == {n for n, s in apis.items() if s.destructive}
    assert effects["mail.send_email"] == {"mutates": True, "destructive": True}
    assert effects["mail.remove_label"] == {"mutates": True, "destructive": False}
