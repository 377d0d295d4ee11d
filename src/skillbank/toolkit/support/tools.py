"""The support desk's tools, written with `skillbank.toolkit` only: three apps of plain,
documented functions. Their docs (what the agent reads) come from these signatures and
docstrings; their state is the world's copy-on-write tables.

- ``desk``: customers, orders and tickets;
- ``payments``: payments, refunds and store credit (moving money is ``destructive``);
- ``policy``: the internal refund policy (eligibility windows, partial refunds, fraud
  holds, late-delivery credit). It only reads: it says what may be done, never does it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, TypedDict, cast

from skillbank.toolkit import App, Field, ToolContext, ToolError

Reason = Literal["damaged", "defective", "not_as_described", "changed_mind"]


class Customer(TypedDict):
    id: str
    name: str
    email: str
    tier: str
    fraud_hold: bool


class Order(TypedDict):
    id: str
    customer_id: str
    items: list[dict]
    total_cents: int
    status: str
    ordered_on: str
    promised_on: str
    delivered_on: str | None
    payment_id: str


class Payment(TypedDict):
    id: str
    order_id: str
    customer_id: str
    amount_cents: int
    refunded_cents: int
    status: str
    captured_on: str


class Verdict(TypedDict):
    order_id: str
    eligible: bool
    refund_cents: int
    refund_percent: int
    code: str
    action: str
    explanation: str


desk = App("desk", "The support desk: customers, their orders, and support tickets.")
desk.table("customers").table("orders", owner="customer_id").table("tickets", owner="customer_id")

payments = App("payments", "Payments, refunds and store credit. Refunds and credits move money and cannot be undone.")
payments.table("payments", owner="order_id").table("refunds", owner="payment_id").table("credits", owner="customer_id")

policy = App("policy", "The internal refund policy: who may get how much back, and when to escalate instead.")


# -- desk ---------------------------------------------------------------------------------

@desk.tool
def find_customer(ctx: ToolContext, email: str) -> Customer:
    """Find a customer by email address.

    Args:
        email: The customer's email address (case-insensitive).

    Raises:
        ToolError: 404 no customer has this email.
    """
    for c in ctx.rows("customers", email=email.strip().lower()):
        return c
    raise ToolError(f"no customer with email {email!r}.")


@desk.tool
def show_customer(ctx: ToolContext, customer_id: str) -> Customer:
    """Show one customer: name, email, tier and whether the account is on fraud hold.

    Args:
        customer_id: The customer's id, e.g. "c_0001".

    Raises:
        ToolError: 404 customer not found.
    """
    return ctx.get("customers", customer_id, what="customer")


@desk.tool
def list_orders(ctx: ToolContext, customer_id: str, status: str | None = None) -> list[Order]:
    """List a customer's orders, oldest first.

    Args:
        customer_id: The customer's id.
        status: Only orders in this status: processing, shipped, delivered or cancelled.
    """
    ctx.get("customers", customer_id, what="customer")
    rows = ctx.rows("orders", customer_id=customer_id)
    return sorted((r for r in rows if status is None or r["status"] == status), key=lambda r: r["ordered_on"])


@desk.tool
def show_order(ctx: ToolContext, order_id: str) -> Order:
    """Show one order: items, total, status, dates and its payment.

    Args:
        order_id: The order's id, e.g. "o_1001".

    Raises:
        ToolError: 404 order not found.
    """
    return ctx.get("orders", order_id, what="order")


@desk.tool(mutates=True)
def cancel_order(ctx: ToolContext, order_id: str) -> Order:
    """Cancel an order that has not shipped yet. It does not refund the payment.

    Args:
        order_id: The order to cancel.

    Raises:
        ToolError: 409 the order has already shipped or is cancelled.
    """
    order = ctx.get("orders", order_id, what="order")
    if order["status"] != "processing":
        raise ToolError(f"order {order_id} is {order['status']}; only processing orders can be cancelled.")
    return cast(Order, ctx.table("orders").update(order_id, status="cancelled"))


@desk.tool(paginated=True)
def list_tickets(ctx: ToolContext, status: str | None = "open", customer_id: str | None = None,
                 category: str | None = None) -> list[dict]:
    """List support tickets, oldest first.

    Args:
        status: open, escalated or closed; null for all.
        customer_id: Only this customer's tickets.
        category: refund, late_delivery, duplicate_charge or question.
    """
    where = {k: v for k, v in {"status": status, "customer_id": customer_id, "category": category}.items() if v}
    return sorted(ctx.rows("tickets", **where), key=lambda r: (r["opened_on"], r["id"]))


@desk.tool
def show_ticket(ctx: ToolContext, ticket_id: str) -> dict:
    """Show one ticket: customer, order, category, the reason given, status and replies.

    Args:
        ticket_id: The ticket's id, e.g. "t_5001".

    Raises:
        ToolError: 404 ticket not found.
    """
    return ctx.get("tickets", ticket_id, what="ticket")


def _open_ticket(ctx: ToolContext, ticket_id: str) -> dict:
    ticket = ctx.get("tickets", ticket_id, what="ticket")
    if ticket["status"] != "open":
        raise ToolError(f"ticket {ticket_id} is {ticket['status']}, not open.")
    return ticket


@desk.tool(destructive=True)
def reply_to_ticket(ctx: ToolContext, ticket_id: str, message: Annotated[str, Field(max_length=2000)]) -> dict:
    """Send the customer a reply on an open ticket (an email: it cannot be unsent).

    Args:
        ticket_id: The ticket.
        message: The text the customer reads.

    Raises:
        ToolError: 409 the ticket is not open.
    """
    ticket = _open_ticket(ctx, ticket_id)
    if not message.strip():
        raise ToolError("the message must not be empty.")
    replies = [*ticket["replies"], {"from": "support", "message": message, "at": ctx.now.isoformat()}]
    return ctx.table("tickets").update(ticket_id, replies=replies)


@desk.tool(mutates=True)
def close_ticket(ctx: ToolContext, ticket_id: str, resolution: Literal["refunded", "denied", "credited", "answered"]) -> dict:
    """Close an open ticket with its resolution.

    Args:
        ticket_id: The ticket.
        resolution: What was done.

    Raises:
        ToolError: 409 the ticket is not open.
    """
    _open_ticket(ctx, ticket_id)
    return ctx.table("tickets").update(ticket_id, status="closed", resolution=resolution)


@desk.tool(mutates=True)
def escalate_ticket(ctx: ToolContext, ticket_id: str, team: Literal["fraud", "billing", "logistics"], note: str) -> dict:
    """Hand an open ticket to another team with a note; it leaves the support queue.

    Args:
        ticket_id: The ticket.
        team: The team that takes it over.
        note: Why, for the team.

    Raises:
        ToolError: 409 the ticket is not open.
    """
    _open_ticket(ctx, ticket_id)
    return ctx.table("tickets").update(ticket_id, status="escalated", team=team, note=note)


# -- payments -------------------------------------------------------------------------------

@payments.tool
def list_payments(ctx: ToolContext, order_id: str) -> list[Payment]:
    """List the payments captured for an order, oldest first (an order is normally paid once).

    Args:
        order_id: The order.
    """
    return sorted(ctx.rows("payments", order_id=order_id), key=lambda r: (r["captured_on"], r["id"]))


@payments.tool
def show_payment(ctx: ToolContext, payment_id: str) -> Payment:
    """Show one payment: amount, how much of it was refunded already, status.

    Args:
        payment_id: The payment's id, e.g. "pay_0001".

    Raises:
        ToolError: 404 payment not found.
    """
    return ctx.get("payments", payment_id, what="payment")


@payments.tool
def list_refunds(ctx: ToolContext, payment_id: str) -> list[dict]:
    """List the refunds made on a payment.

    Args:
        payment_id: The payment.
    """
    return ctx.rows("refunds", payment_id=payment_id)


@payments.tool(destructive=True)
def refund_payment(ctx: ToolContext, payment_id: str, amount_cents: Annotated[int, Field(ge=1)], reason: str) -> dict:
    """Refund part or all of a payment to the card that paid it. Money leaves at once.

    Args:
        payment_id: The payment to refund.
        amount_cents: How much, in cents; at most what is left unrefunded.
        reason: Why (recorded with the refund).

    Raises:
        ToolError: 404 payment not found.
        ToolError: 409 the amount exceeds what is left to refund.
    """
    pay = ctx.get("payments", payment_id, what="payment")
    left = pay["amount_cents"] - pay["refunded_cents"]
    if amount_cents > left:
        raise ToolError(f"{amount_cents} cents exceeds the {left} cents left to refund on {payment_id}.")
    rid = ctx.new_id("ref")
    refund = {"id": rid, "payment_id": payment_id, "order_id": pay["order_id"], "customer_id": pay["customer_id"],
              "amount_cents": amount_cents, "reason": reason, "created_at": ctx.now.isoformat()}
    ctx.table("refunds").insert(rid, refund)
    total = pay["refunded_cents"] + amount_cents
    ctx.table("payments").update(payment_id, refunded_cents=total,
                                 status="refunded" if total == pay["amount_cents"] else "partially_refunded")
    return refund


@payments.tool(destructive=True)
def issue_credit(ctx: ToolContext, customer_id: str, amount_cents: Annotated[int, Field(ge=1, le=50_000)],
                 reason: str, order_id: str | None = None) -> dict:
    """Give a customer store credit (spendable at once, so it cannot be taken back).

    Args:
        customer_id: Who gets it.
        amount_cents: How much, in cents.
        reason: Why.
        order_id: The order it is for, if any.
    """
    ctx.get("customers", customer_id, what="customer", app="desk")
    cid = ctx.new_id("cr")
    credit = {"id": cid, "customer_id": customer_id, "order_id": order_id, "amount_cents": amount_cents,
              "reason": reason, "created_at": ctx.now.isoformat()}
    ctx.table("credits").insert(cid, credit)
    return credit


# -- policy -----------------------------------------------------------------------------

#: reason -> (days after delivery, percent of the order total refunded)
WINDOWS = {"damaged": (60, 100), "defective": (60, 100), "not_as_described": (30, 100), "changed_mind": (30, 90)}
GOLD_EXTRA_DAYS = 30
LATE_PERCENT_PER_DAY, LATE_PERCENT_CAP = 5, 25


def refund_verdict(customer: dict, order: dict, refunded_cents: int, reason: str, today: dt.date) -> Verdict:
    """The refund policy as a pure function (the tool and the task builders share it)."""
    def verdict(eligible: bool, cents: int, percent: int, code: str, action: str, why: str) -> Verdict:
        return Verdict(order_id=order["id"], eligible=eligible, refund_cents=cents, refund_percent=percent,
                       code=code, action=action, explanation=why)

    if customer["fraud_hold"]:
        return verdict(False, 0, 0, "fraud_hold", "escalate_fraud",
                       "The account is on fraud hold: pay nothing; escalate to the fraud team.")
    if order["status"] == "processing":
        return verdict(False, 0, 0, "not_shipped", "cancel_order",
                       "Not shipped yet: cancel the order and refund its payment in full instead.")
    if order["status"] != "delivered":
        return verdict(False, 0, 0, order["status"], "deny", f"The order is {order['status']}; nothing to refund.")
    days, percent = WINDOWS[reason]
    if customer["tier"] == "gold":
        days += GOLD_EXTRA_DAYS
    age = (today - dt.date.fromisoformat(order["delivered_on"])).days
    if age > days:
        return verdict(False, 0, 0, "window_closed", "deny",
                       f"Delivered {age} days ago; the window for {reason} is {days} days.")
    cents = max(0, order["total_cents"] * percent // 100 - refunded_cents)
    if cents == 0:
        return verdict(False, 0, percent, "already_refunded", "deny", "Everything the policy allows was refunded already.")
    partial = f" ({percent}% of the total, less {refunded_cents} cents refunded before)" if percent < 100 or refunded_cents else ""
    return verdict(True, cents, percent, "ok", "refund", f"Refund {cents} cents{partial}.")


@policy.tool
def check_refund_eligibility(ctx: ToolContext, order_id: str, reason: Reason) -> Verdict:
    """Say whether an order may be refunded for a reason, and how much (in cents).

    Windows run from delivery: damaged or defective 60 days (full refund), not as
    described 30 days (full), changed mind 30 days (90%: a 10% restocking fee); gold
    customers get 30 more days. What was refunded before is deducted. Accounts on fraud
    hold get nothing (action "escalate_fraud"); orders not shipped yet are cancelled
    instead (action "cancel_order").

    Args:
        order_id: The order.
        reason: Why the customer wants their money back.

    Raises:
        ToolError: 404 order not found.
    """
    order = ctx.get("orders", order_id, what="order", app="desk")
    customer = ctx.get("customers", order["customer_id"], what="customer", app="desk")
    paid = ctx.get("payments", order["payment_id"], what="payment", app="payments")
    return refund_verdict(customer, order, paid["refunded_cents"], reason, ctx.today)


def late_credit(order: dict) -> tuple[int, int]:
    """(days late, credit in cents) for a delivered order; the policy and builders share it."""
    if order["status"] != "delivered":
        return 0, 0
    late = (dt.date.fromisoformat(order["delivered_on"]) - dt.date.fromisoformat(order["promised_on"])).days
    if late <= 0:
        return 0, 0
    return late, order["total_cents"] * min(LATE_PERCENT_CAP, LATE_PERCENT_PER_DAY * late) // 100


@policy.tool
def late_delivery_credit(ctx: ToolContext, order_id: str) -> dict[str, Any]:
    """The store credit owed for a late delivery: 5% of the total per day late, at most 25%.

    Args:
        order_id: The order.

    Raises:
        ToolError: 404 order not found.
    """
    order = ctx.get("orders", order_id, what="order", app="desk")
    days, cents = late_credit(order)
    return {"order_id": order_id, "days_late": days, "credit_cents": cents}
