"""The support desk's scenarios: 12 procedures x 3 tasks (train 6, dev 3, test 3).

Each scenario adds the customers and orders its tasks are about to the data, states each
task's instruction, and grades it by state. Task tests (the only ones `Grade.fraction`
credits): the refunds, credits and ticket changes it asks for were made (exactly), the
answer is right. Guards: completed, nothing else changed, nothing in the outbound ledger
(refunds, credits, replies: they cannot be taken back) that the task did not ask for, and
two money guards: **no money to another customer** and **no double refund**. Doing
nothing passes no task and earns zero credit, whatever generic answer (0, 1, True, None,
...) it gives. Each scenario has an expert solution in the skill-library style: the first
task defines the skill, the next two call it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from skillbank.toolkit import GUARD, Allow, Expect, Outcome, Scenario, TaskDef, TestResult, check_state
from skillbank.toolkit.support.data import CATALOGUE, DeskData
from skillbank.toolkit.support.tools import Verdict, late_credit, refund_verdict
from skillbank.worlds.engine.api import TODAY

REASON_TEXT = {"damaged": "it arrived damaged", "defective": "it is defective",
               "not_as_described": "it is not as described", "changed_mind": "they changed their mind"}
MONEY_TABLES = (("payments", "refunds"), ("payments", "credits"))


# -- guards every support task has ---------------------------------------------------------

def money_only_to(customer_ids: Sequence[str]) -> Callable[[Outcome], TestResult]:
    """Refunds and credits may go only to the customers the task is about (a guard: it
    earns no credit, and failing it zeroes the task)."""
    allowed = set(customer_ids)

    def guard(o: Outcome) -> TestResult:
        # an insert always has an `after` record
        wrong = [c.after for c in o.changes if c.kind == "insert" and (c.app, c.table) in MONEY_TABLES
                 and c.after is not None and c.after.get("customer_id") not in allowed]
        return TestResult("no money to another customer", not wrong,
                          "none" if not wrong else "; ".join(f"{r['id']} paid {r['amount_cents']} cents to "
                                                             f"{r['customer_id']}" for r in wrong[:3]), GUARD)
    return guard


def no_double_refund(o: Outcome) -> TestResult:
    """A payment is refunded at most once per task."""
    counts = Counter(c.after["payment_id"] for c in o.changes_to("payments", "refunds", "insert")
                     if c.after is not None)  # an insert always has one
    doubles = sorted(p for p, n in counts.items() if n > 1)
    return TestResult("no double refund", not doubles,
                      "none" if not doubles else f"refunded more than once: {', '.join(doubles)}", GUARD)


def support_check(expect: Sequence[Expect] = (), *, answer: Any, customers: Sequence[str] = (),
                  allow: Sequence[Allow] = ()) -> Callable[[Outcome], Any]:
    """The support world's checker: :func:`check_state` plus the two money guards."""
    return check_state(expect, allow, answer=answer, guards=[money_only_to(customers), no_double_refund])


def refund_of(pay: dict[str, Any], cents: int) -> list[Expect]:
    """A refund of `cents` on payment `pay`: the refund record and the payment's new total."""
    total = pay["refunded_cents"] + cents
    return [
        Expect("payments", "refunds", "insert", match={"payment_id": pay["id"], "customer_id": pay["customer_id"],
                                                       "amount_cents": cents},
               label=f"a refund of {cents} cents on {pay['id']}"),
        Expect("payments", "payments", "update", match={"id": pay["id"], "refunded_cents": total},
               only_fields=frozenset({"refunded_cents", "status"}), label=f"{pay['id']} shows {total} cents refunded"),
    ]


def _norm(text: Any) -> str:
    return " ".join(str(text).lower().split())


def ticket_closed(ticket: dict[str, Any], resolution: str, reply: str | None = None) -> Expect:
    match: dict[str, Any] = {"id": ticket["id"], "status": "closed", "resolution": resolution}
    if reply is not None:
        want = _norm(reply)
        match["replies"] = lambda rs: bool(rs) and _norm(rs[-1]["message"]) == want
    return Expect("desk", "tickets", "update", match=match,
                  label=f"{ticket['id']} closed as {resolution}" + (f" after replying {reply!r}" if reply else ""))


def ticket_escalated(ticket: dict[str, Any], team: str, note: str) -> Expect:
    return Expect("desk", "tickets", "update",
                  match={"id": ticket["id"], "status": "escalated", "team": team, "note": lambda n: _norm(n) == note},
                  label=f"{ticket['id']} escalated to {team} with the note {note!r}")


def verdict(d: DeskData, order: dict[str, Any], reason: str) -> Verdict:
    customer = next(c for c in d.tables["desk.customers"] if c["id"] == order["customer_id"])
    return refund_verdict(customer, order, d.payment_of(order)["refunded_cents"], reason, TODAY)


def dollars(cents: int) -> float:
    return cents / 100


def _explore(*pairs: tuple[str, str]) -> str:
    return "\n".join(f'print(apis.api_docs.show_api_doc(app_name="{a}", api_name="{b}"))' for a, b in pairs)


# == train ====================================================================================

REFUND_ORDER = '''
def refund_order(order_id: str, reason: str) -> float:
    """Refund what the refund policy allows for an order; returns the dollars refunded (0.0 if none)."""
    verdict = apis.policy.check_refund_eligibility(order_id=order_id, reason=reason)
    if not verdict["eligible"]:
        return 0.0
    order = apis.desk.show_order(order_id=order_id)
    apis.payments.refund_payment(payment_id=order["payment_id"], amount_cents=verdict["refund_cents"], reason=reason)
    return verdict["refund_cents"] / 100
'''


def refund_order(d: DeskData) -> Scenario:
    tasks = []
    for reason, tier, days, before in (("damaged", "standard", 12, 0), ("changed_mind", "standard", 8, 0),
                                       ("defective", "gold", 75, 4)):
        c = d.customer(tier=tier)
        d.order(c, delivered_days_ago=days + 40)  # an older order of theirs, not the one in question
        o = d.order(c, delivered_days_ago=days)
        if before:
            d.refunded(o, o["total_cents"] // before)
        v = verdict(d, o, reason)
        assert v["eligible"], v
        tasks.append(TaskDef(
            f"{c['name']} <{c['email']}> asks for their money back for order {o['id']}: {REASON_TEXT[reason]}. "
            "Apply the refund policy, refund what it allows to the order's payment, and tell me how many dollars "
            "you refunded (0 if none).",
            support_check(refund_of(d.payment_of(o), v["refund_cents"]), customers=[c["id"]],
                          answer=dollars(v["refund_cents"])),
            solution=f"refund_order(order_id={o['id']!r}, reason={reason!r})",
        ))
    return Scenario("refund_order", "train", tuple(tasks), skills=(REFUND_ORDER,), apps=("desk", "payments", "policy"),
                    explore=_explore(("policy", "check_refund_eligibility"), ("payments", "refund_payment")),
                    description="Check a refund request against the policy and refund what it allows.")


RESOLVE_TICKET = '''
def resolve_refund_ticket(ticket_id: str) -> str:
    """Resolve an open refund ticket by the refund policy: refund, reply and close it as 'refunded',
    or reply with the policy's code and close it as 'denied'. Returns the resolution."""
    ticket = apis.desk.show_ticket(ticket_id=ticket_id)
    verdict = apis.policy.check_refund_eligibility(order_id=ticket["order_id"], reason=ticket["reason"])
    if not verdict["eligible"]:
        apis.desk.reply_to_ticket(ticket_id=ticket_id, message=f"Refund denied: {verdict['code']}.")
        apis.desk.close_ticket(ticket_id=ticket_id, resolution="denied")
        return "denied"
    order = apis.desk.show_order(order_id=ticket["order_id"])
    apis.payments.refund_payment(payment_id=order["payment_id"], amount_cents=verdict["refund_cents"],
                                 reason=ticket["reason"])
    apis.desk.reply_to_ticket(ticket_id=ticket_id, message=f"Refunded ${verdict['refund_cents'] / 100:.2f}.")
    apis.desk.close_ticket(ticket_id=ticket_id, resolution="refunded")
    return "refunded"
'''


def resolve_refund_ticket(d: DeskData) -> Scenario:
    tasks = []
    for reason, days in (("damaged", 20), ("not_as_described", 9), ("not_as_described", 45)):
        c = d.customer()
        o = d.order(c, delivered_days_ago=days)
        t = d.ticket(c, o, reason=reason)
        v = verdict(d, o, reason)
        if v["eligible"]:
            expect = [*refund_of(d.payment_of(o), v["refund_cents"]),
                      ticket_closed(t, "refunded", f"Refunded ${v['refund_cents'] / 100:.2f}.")]
            answer = "refunded"
        else:
            expect, answer = [ticket_closed(t, "denied", f"Refund denied: {v['code']}.")], "denied"
        tasks.append(TaskDef(
            f"Resolve support ticket {t['id']}. If the refund policy allows a refund, refund it, reply exactly "
            "\"Refunded $X.XX.\" (the amount) and close the ticket as refunded; if not, reply exactly "
            "\"Refund denied: <the policy's code>.\" and close it as denied. Tell me the resolution.",
            support_check(expect, customers=[c["id"]], answer=answer),
            solution=f"resolve_refund_ticket(ticket_id={t['id']!r})",
        ))
    return Scenario("resolve_refund_ticket", "train", tuple(tasks), skills=(RESOLVE_TICKET,),
                    apps=("desk", "payments", "policy"),
                    explore=_explore(("desk", "show_ticket"), ("desk", "reply_to_ticket"), ("desk", "close_ticket")),
                    description="Work a refund ticket end to end: policy, refund, reply, close.")


TRIAGE_TICKET = '''
def triage_refund_ticket(ticket_id: str) -> str:
    """Triage a refund ticket: escalate fraud-hold accounts to the fraud team (paying nothing),
    otherwise refund what the policy allows and close it. Returns 'escalated', 'refunded' or 'denied'."""
    ticket = apis.desk.show_ticket(ticket_id=ticket_id)
    verdict = apis.policy.check_refund_eligibility(order_id=ticket["order_id"], reason=ticket["reason"])
    if verdict["action"] == "escalate_fraud":
        apis.desk.escalate_ticket(ticket_id=ticket_id, team="fraud", note="fraud hold")
        return "escalated"
    if not verdict["eligible"]:
        apis.desk.close_ticket(ticket_id=ticket_id, resolution="denied")
        return "denied"
    order = apis.desk.show_order(order_id=ticket["order_id"])
    apis.payments.refund_payment(payment_id=order["payment_id"], amount_cents=verdict["refund_cents"],
                                 reason=ticket["reason"])
    apis.desk.close_ticket(ticket_id=ticket_id, resolution="refunded")
    return "refunded"
'''


def fraud_hold_triage(d: DeskData) -> Scenario:
    tasks = []
    for fraud, tier, reason in ((True, "standard", "damaged"), (False, "standard", "defective"), (True, "gold", "changed_mind")):
        c = d.customer(tier=tier, fraud_hold=fraud)
        o = d.order(c, delivered_days_ago=6)
        t = d.ticket(c, o, reason=reason)
        v = verdict(d, o, reason)
        if fraud:
            expect, answer = [ticket_escalated(t, "fraud", "fraud hold")], "escalated"
        else:
            expect, answer = [*refund_of(d.payment_of(o), v["refund_cents"]), ticket_closed(t, "refunded")], "refunded"
        tasks.append(TaskDef(
            f"Triage refund ticket {t['id']}: if the customer's account is on fraud hold, pay nothing and escalate "
            "the ticket to the fraud team with the note \"fraud hold\"; otherwise refund what the refund policy "
            "allows and close the ticket as refunded (or as denied if it allows nothing). Tell me what you did: "
            "escalated, refunded or denied.",
            support_check(expect, customers=[] if fraud else [c["id"]], answer=answer),
            solution=f"triage_refund_ticket(ticket_id={t['id']!r})",
        ))
    return Scenario("fraud_hold_triage", "train", tuple(tasks), skills=(TRIAGE_TICKET,), apps=("desk", "payments", "policy"),
                    explore=_explore(("policy", "check_refund_eligibility"), ("desk", "escalate_ticket")),
                    description="Refund tickets where fraud holds must go to the fraud team instead.")


TOTAL_REFUNDED = '''
def total_refunded(email: str) -> float:
    """Dollars refunded to a customer so far, over all their orders and payments."""
    customer = apis.desk.find_customer(email=email)
    cents = 0
    for order in apis.desk.list_orders(customer_id=customer["id"]):
        for payment in apis.payments.list_payments(order_id=order["id"]):
            cents += payment["refunded_cents"]
    return cents / 100
'''


def total_refunded(d: DeskData) -> Scenario:
    tasks = []
    for parts in ((4, 2), (1, 3, 5), (2,)):
        c = d.customer()
        cents = 0
        for n in parts:
            o = d.order(c, delivered_days_ago=30 + n)
            cents += d.refunded(o, o["total_cents"] // n)["amount_cents"]
        d.order(c, delivered_days_ago=3)  # an order with nothing refunded
        tasks.append(TaskDef(
            f"How many dollars have we refunded to the customer with email {c['email']} so far, over all "
            "their orders? Change nothing.",
            support_check(answer=dollars(cents)),
            solution=f"total_refunded(email={c['email']!r})",
        ))
    return Scenario("total_refunded", "train", tuple(tasks), skills=(TOTAL_REFUNDED,), apps=("desk", "payments"),
                    explore=_explore(("desk", "list_orders"), ("payments", "list_payments")),
                    description="Sum a customer's refunds over orders and payments (read only).")


CANCEL_UNSHIPPED = '''
def cancel_unshipped_orders(email: str) -> int:
    """Cancel every not-yet-shipped order of a customer and refund what is left of each payment.
    Returns how many orders were cancelled."""
    customer = apis.desk.find_customer(email=email)
    cancelled = 0
    for order in apis.desk.list_orders(customer_id=customer["id"], status="processing"):
        apis.desk.cancel_order(order_id=order["id"])
        payment = apis.payments.show_payment(payment_id=order["payment_id"])
        left = payment["amount_cents"] - payment["refunded_cents"]
        if left > 0:
            apis.payments.refund_payment(payment_id=payment["id"], amount_cents=left, reason="order cancelled")
        cancelled += 1
    return cancelled
'''


def cancel_unshipped(d: DeskData) -> Scenario:
    tasks = []
    for statuses in (("processing", "delivered", "processing"), ("shipped", "processing"),
                     ("processing", "processing", "processing", "delivered")):
        c = d.customer()
        expect: list[Expect] = []
        n = 0
        for status in statuses:
            o = d.order(c, status=status, delivered_days_ago=15 if status == "delivered" else None)
            if status == "processing":
                n += 1
                pay = d.payment_of(o)
                expect += [Expect("desk", "orders", "update", match={"id": o["id"], "status": "cancelled"},
                                  only_fields=frozenset({"status"}), label=f"{o['id']} cancelled"),
                           *refund_of(pay, pay["amount_cents"] - pay["refunded_cents"])]
        tasks.append(TaskDef(
            f"The customer with email {c['email']} wants out: cancel every order of theirs that has not shipped yet "
            "(status processing), refund each cancelled order's payment in full, and tell me how many orders you "
            "cancelled.",
            support_check(expect, customers=[c["id"]], answer=n),
            solution=f"cancel_unshipped_orders(email={c['email']!r})",
        ))
    return Scenario("cancel_unshipped", "train", tuple(tasks), skills=(CANCEL_UNSHIPPED,), apps=("desk", "payments"),
                    explore=_explore(("desk", "cancel_order"), ("payments", "refund_payment")),
                    description="Cancel unshipped orders and refund them in full.")


DUPLICATE_CHARGE = '''
def refund_duplicate_charges(order_id: str) -> float:
    """Refund in full every payment of an order other than the one the order records (duplicate
    charges); returns the dollars refunded."""
    order = apis.desk.show_order(order_id=order_id)
    cents = 0
    for payment in apis.payments.list_payments(order_id=order_id):
        left = payment["amount_cents"] - payment["refunded_cents"]
        if payment["id"] != order["payment_id"] and left > 0:
            apis.payments.refund_payment(payment_id=payment["id"], amount_cents=left, reason="duplicate charge")
            cents += left
    return cents / 100
'''


def duplicate_charge(d: DeskData) -> Scenario:
    tasks = []
    for extra in (1, 1, 2):
        c = d.customer()
        o = d.order(c, delivered_days_ago=4)
        dupes = [d.duplicate_charge(o) for _ in range(extra)]
        expect = [e for p in dupes for e in refund_of(p, p["amount_cents"])]
        tasks.append(TaskDef(
            f"{c['name']} says they were charged more than once for order {o['id']}. Refund in full every payment "
            "on that order except the one the order records as its payment, and tell me the dollars refunded.",
            support_check(expect, customers=[c["id"]], answer=dollars(sum(p["amount_cents"] for p in dupes))),
            solution=f"refund_duplicate_charges(order_id={o['id']!r})",
        ))
    return Scenario("duplicate_charge", "train", tuple(tasks), skills=(DUPLICATE_CHARGE,), apps=("desk", "payments"),
                    explore=_explore(("payments", "list_payments"),),
                    description="Refund duplicate captures of one order, never the original payment.")


# == dev ======================================================================================

LATE_CREDIT = '''
def credit_late_delivery(order_id: str) -> float:
    """Give the store credit the policy owes for a late delivery; returns its dollars (0.0 if on time)."""
    owed = apis.policy.late_delivery_credit(order_id=order_id)
    if owed["credit_cents"] <= 0:
        return 0.0
    order = apis.desk.show_order(order_id=order_id)
    apis.payments.issue_credit(customer_id=order["customer_id"], amount_cents=owed["credit_cents"],
                               reason="late delivery", order_id=order_id)
    return owed["credit_cents"] / 100
'''


def late_delivery_credit(d: DeskData) -> Scenario:
    tasks = []
    for late in (2, 7, 3):
        c = d.customer()
        o = d.order(c, delivered_days_ago=5, late_days=late)
        _, cents = late_credit(o)
        tasks.append(TaskDef(
            f"Order {o['id']} arrived late. Give its customer the store credit the policy owes for a late delivery "
            "(with the reason \"late delivery\" and the order id) and tell me its amount in dollars.",
            support_check([Expect("payments", "credits", "insert",
                                  match={"customer_id": c["id"], "order_id": o["id"], "amount_cents": cents},
                                  label=f"a credit of {cents} cents to {c['id']}")],
                          customers=[c["id"]], answer=dollars(cents)),
            solution=f"credit_late_delivery(order_id={o['id']!r})",
        ))
    return Scenario("late_delivery_credit", "dev", tuple(tasks), skills=(LATE_CREDIT,), apps=("desk", "payments", "policy"),
                    explore=_explore(("policy", "late_delivery_credit"), ("payments", "issue_credit")),
                    description="Store credit for late deliveries, as the policy computes it.")


REFUND_LATEST = '''
def refund_latest_delivered(email: str, reason: str) -> float:
    """Refund, by the refund policy, a customer's most recently delivered order; returns the dollars refunded."""
    customer = apis.desk.find_customer(email=email)
    delivered = apis.desk.list_orders(customer_id=customer["id"], status="delivered")
    latest = max(delivered, key=lambda order: order["delivered_on"])
    verdict = apis.policy.check_refund_eligibility(order_id=latest["id"], reason=reason)
    if not verdict["eligible"]:
        return 0.0
    apis.payments.refund_payment(payment_id=latest["payment_id"], amount_cents=verdict["refund_cents"], reason=reason)
    return verdict["refund_cents"] / 100
'''


def refund_latest_delivered(d: DeskData) -> Scenario:
    tasks = []
    for reason, days in (("damaged", (40, 6, 90)), ("defective", (3, 25)), ("changed_mind", (50, 12, 20))):
        c = d.customer()
        orders = [d.order(c, delivered_days_ago=n) for n in days]  # ordered in this order, delivered out of it
        d.order(c, status="shipped", delivered_days_ago=None)
        latest = min(orders, key=lambda o: days[orders.index(o)])
        v = verdict(d, latest, reason)
        tasks.append(TaskDef(
            f"The customer with email {c['email']} says their most recently delivered order: {REASON_TEXT[reason]}. "
            "Refund that order as the refund policy allows and tell me how many dollars you refunded.",
            support_check(refund_of(d.payment_of(latest), v["refund_cents"]), customers=[c["id"]],
                          answer=dollars(v["refund_cents"])),
            solution=f"refund_latest_delivered(email={c['email']!r}, reason={reason!r})",
        ))
    return Scenario("refund_latest_delivered", "dev", tuple(tasks), skills=(REFUND_LATEST,),
                    apps=("desk", "payments", "policy"),
                    explore=_explore(("desk", "find_customer"), ("desk", "list_orders"), ("policy", "check_refund_eligibility")),
                    description="Find a customer's latest delivery and refund it by the policy.")


CLOSE_REFUNDED = '''
def close_fully_refunded_tickets(email: str) -> int:
    """Close, as refunded, every open ticket of a customer whose order is fully refunded; returns how many."""
    customer = apis.desk.find_customer(email=email)
    tickets, page = [], 0
    while True:
        batch = apis.desk.list_tickets(status="open", customer_id=customer["id"], page_index=page, page_limit=20)
        if not batch:
            break
        tickets += batch
        page += 1
    closed = 0
    for ticket in tickets:
        if not ticket["order_id"]:
            continue
        order = apis.desk.show_order(order_id=ticket["order_id"])
        payment = apis.payments.show_payment(payment_id=order["payment_id"])
        if payment["refunded_cents"] >= payment["amount_cents"]:
            apis.desk.close_ticket(ticket_id=ticket["id"], resolution="refunded")
            closed += 1
    return closed
'''


def close_refunded_tickets(d: DeskData) -> Scenario:
    tasks = []
    for fully in ((True, False, True), (False, True), (True, True, True, False, True, True, False)):
        c = d.customer()
        expect = []
        for full in fully:
            o = d.order(c, delivered_days_ago=20)
            d.refunded(o, o["total_cents"] if full else o["total_cents"] // 2)
            t = d.ticket(c, o, reason="damaged")
            if full:
                expect.append(ticket_closed(t, "refunded"))
        d.ticket(c, None, category="question")
        tasks.append(TaskDef(
            f"Tidy up the queue of the customer with email {c['email']}: close, as refunded, every open ticket of "
            "theirs whose order has been refunded in full, and tell me how many tickets you closed.",
            support_check(expect, answer=len(expect)),
            solution=f"close_fully_refunded_tickets(email={c['email']!r})",
        ))
    return Scenario("close_refunded_tickets", "dev", tuple(tasks), skills=(CLOSE_REFUNDED,), apps=("desk", "payments"),
                    explore=_explore(("desk", "list_tickets"), ("desk", "close_ticket")),
                    description="Close the open tickets whose orders are fully refunded (paginated).")


# == test =====================================================================================

REFUND_QUOTE = '''
def refund_quote(order_id: str, reason: str) -> float | str:
    """Dollars the refund policy would allow for an order and reason, without refunding anything;
    the policy's code (e.g. 'window_closed') when it allows nothing."""
    verdict = apis.policy.check_refund_eligibility(order_id=order_id, reason=reason)
    return verdict["refund_cents"] / 100 if verdict["eligible"] else verdict["code"]
'''


def refund_quote(d: DeskData) -> Scenario:
    tasks = []
    for reason, tier, days in (("changed_mind", "standard", 10), ("not_as_described", "standard", 40),
                               ("not_as_described", "gold", 40)):
        c = d.customer(tier=tier)
        o = d.order(c, delivered_days_ago=days)
        v = verdict(d, o, reason)
        tasks.append(TaskDef(
            f"{c['name']} asks how much they would get back for order {o['id']} because {REASON_TEXT[reason]}. "
            "Do not refund anything yet; tell me the dollars the refund policy allows or, if it allows nothing, "
            "the code the policy gives for that.",
            # a denial is answered with its code, not 0: a generic answer of 0 must not pass
            support_check(answer=dollars(v["refund_cents"]) if v["eligible"] else v["code"]),
            solution=f"refund_quote(order_id={o['id']!r}, reason={reason!r})",
        ))
    return Scenario("refund_quote", "test", tuple(tasks), skills=(REFUND_QUOTE,), apps=("policy",),
                    explore=_explore(("policy", "check_refund_eligibility"),),
                    description="Quote a refund by the policy without paying it (read only).")


RESOLVE_ALL = '''
def resolve_refund_tickets(email: str) -> float:
    """Resolve every open refund ticket of a customer by the refund policy: escalate fraud holds to the
    fraud team, refund and close as 'refunded' what it allows, close the rest as 'denied'.
    Returns the dollars refunded."""
    customer = apis.desk.find_customer(email=email)
    tickets, page = [], 0
    while True:
        batch = apis.desk.list_tickets(status="open", customer_id=customer["id"], category="refund",
                                       page_index=page, page_limit=20)
        if not batch:
            break
        tickets += batch
        page += 1
    cents = 0
    for ticket in tickets:
        verdict = apis.policy.check_refund_eligibility(order_id=ticket["order_id"], reason=ticket["reason"])
        if verdict["action"] == "escalate_fraud":
            apis.desk.escalate_ticket(ticket_id=ticket["id"], team="fraud", note="fraud hold")
        elif verdict["eligible"]:
            order = apis.desk.show_order(order_id=ticket["order_id"])
            apis.payments.refund_payment(payment_id=order["payment_id"], amount_cents=verdict["refund_cents"],
                                         reason=ticket["reason"])
            apis.desk.close_ticket(ticket_id=ticket["id"], resolution="refunded")
            cents += verdict["refund_cents"]
        else:
            apis.desk.close_ticket(ticket_id=ticket["id"], resolution="denied")
    return cents / 100
'''


def resolve_all_refund_tickets(d: DeskData) -> Scenario:
    tasks = []
    cases = ((False, (("damaged", 10), ("changed_mind", 45), ("defective", 20))),
             (True, (("damaged", 5), ("not_as_described", 8))),
             (False, (("changed_mind", 5), ("not_as_described", 12))))
    for fraud, tickets in cases:
        c = d.customer(fraud_hold=fraud)
        expect: list[Expect] = []
        cents = 0
        for reason, days in tickets:
            o = d.order(c, delivered_days_ago=days)
            t = d.ticket(c, o, reason=reason)
            v = verdict(d, o, reason)
            if fraud:
                expect.append(ticket_escalated(t, "fraud", "fraud hold"))
            elif v["eligible"]:
                expect += [*refund_of(d.payment_of(o), v["refund_cents"]), ticket_closed(t, "refunded")]
                cents += v["refund_cents"]
            else:
                expect.append(ticket_closed(t, "denied"))
        d.ticket(c, None, category="question")
        tasks.append(TaskDef(
            f"Work through the open refund tickets of the customer with email {c['email']}: escalate them to the "
            "fraud team with the note \"fraud hold\" if the account is on fraud hold; otherwise refund what the "
            "refund policy allows and close each as refunded, or close it as denied when the policy allows "
            "nothing. Tell me the total dollars refunded.",
            support_check(expect, customers=[] if fraud else [c["id"]], answer=dollars(cents)),
            solution=f"resolve_refund_tickets(email={c['email']!r})",
        ))
    return Scenario("resolve_all_refund_tickets", "test", tuple(tasks), skills=(RESOLVE_ALL,), difficulty=2,
                    apps=("desk", "payments", "policy"),
                    explore=_explore(("desk", "list_tickets"), ("policy", "check_refund_eligibility")),
                    description="A customer's whole refund queue: fraud holds, refunds, denials.")


REFUND_BY_ITEM = '''
def refund_order_with_item(email: str, item_name: str, reason: str) -> float:
    """Refund, by the refund policy, the customer's delivered order that contains an item (matched by
    name, case-insensitive); returns the dollars refunded."""
    customer = apis.desk.find_customer(email=email)
    wanted = item_name.strip().lower()
    for order in apis.desk.list_orders(customer_id=customer["id"], status="delivered"):
        if any(item["name"].lower() == wanted for item in order["items"]):
            verdict = apis.policy.check_refund_eligibility(order_id=order["id"], reason=reason)
            if not verdict["eligible"]:
                return 0.0
            apis.payments.refund_payment(payment_id=order["payment_id"], amount_cents=verdict["refund_cents"],
                                         reason=reason)
            return verdict["refund_cents"] / 100
    raise ValueError(f"no delivered order with {item_name!r}")
'''


def refund_by_item(d: DeskData) -> Scenario:
    tasks = []
    for reason, pick in (("damaged", 1), ("defective", 0), ("changed_mind", 2)):
        c = d.customer()
        products = d.rng.sample(CATALOGUE, 3)  # three different items: the name singles out one order
        orders = [d.order(c, delivered_days_ago=7 + 9 * i, products=[p]) for i, p in enumerate(products)]
        names = [o["items"][0]["name"] for o in orders]
        target = orders[pick]
        v = verdict(d, target, reason)
        tasks.append(TaskDef(
            f"The customer with email {c['email']} wants a refund for the order with their {names[pick].lower()}: "
            f"{REASON_TEXT[reason]}. Refund that order as the refund policy allows and tell me the dollars refunded.",
            support_check(refund_of(d.payment_of(target), v["refund_cents"]), customers=[c["id"]],
                          answer=dollars(v["refund_cents"])),
            solution=f"refund_order_with_item(email={c['email']!r}, item_name={names[pick]!r}, reason={reason!r})",
        ))
    return Scenario("refund_by_item", "test", tuple(tasks), skills=(REFUND_BY_ITEM,), apps=("desk", "payments", "policy"),
                    explore=_explore(("desk", "list_orders"), ("policy", "check_refund_eligibility")),
                    description="Find the order by an item's name and refund it by the policy.")


BUILDERS = (refund_order, resolve_refund_ticket, fraud_hold_triage, total_refunded, cancel_unshipped, duplicate_charge,
            late_delivery_credit, refund_latest_delivered, close_refunded_tickets,
            refund_quote, resolve_all_refund_tickets, refund_by_item)
