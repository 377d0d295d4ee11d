"""The support desk's base data: customers, orders, payments, refunds and tickets.

:class:`DeskData` is a small builder. A seeded background of ordinary customers makes
lookups real; each scenario then adds the customers and orders its tasks are about
(`skillbank.toolkit.support.scenarios`), so every task's facts are stated where the task
is. All of it ends up in ``ToolkitWorld(data=...)`` as plain records.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from skillbank.worlds.engine.api import TODAY

FIRST = ("Ada", "Ben", "Chloe", "Dev", "Elif", "Femi", "Greta", "Hiro", "Ines", "Jon", "Kira", "Luis", "Mona",
         "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Vik", "Wen", "Yara", "Zane")
LAST = ("Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva", "Novak", "Haddad", "Kowalski", "Reyes", "Byrne",
        "Sato", "Adeyemi", "Fischer", "Costa", "Ivanova", "Mensah", "Larsen", "Duarte", "Kaur", "Weber")
CATALOGUE = (
    ("KTL-01", "Electric kettle", 3499), ("LMP-02", "Desk lamp", 2450), ("HDP-03", "Headphones", 8999),
    ("BKP-04", "Backpack", 5600), ("MUG-05", "Ceramic mug set", 1899), ("BLN-06", "Blender", 6400),
    ("CHR-07", "Office chair", 14900), ("TWL-08", "Bath towels", 2999), ("SPK-09", "Bluetooth speaker", 4599),
    ("PAN-10", "Frying pan", 3850), ("JKT-11", "Rain jacket", 7900), ("WCH-12", "Wall clock", 2200),
)


def day(days_ago: int) -> str:
    return (TODAY - dt.timedelta(days=days_ago)).isoformat()


class DeskData:
    """Collects the records of every table; ids are sequential, so the data reads well."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.tables: dict[str, list[dict[str, Any]]] = {
            k: [] for k in ("desk.customers", "desk.orders", "desk.tickets", "payments.payments",
                            "payments.refunds", "payments.credits")
        }
        self._n = {"c": 0, "o": 1000, "t": 5000, "pay": 0, "ref": 0}
        self._emails: set[str] = set()

    def _id(self, prefix: str, width: int = 4) -> str:
        self._n[prefix] += 1
        return f"{prefix}_{self._n[prefix]:0{width}d}"

    def _rows(self, key: str) -> list[dict[str, Any]]:
        return self.tables[key]

    # -- records ---------------------------------------------------------------------------
    def customer(self, *, tier: str = "standard", fraud_hold: bool = False) -> dict[str, Any]:
        while True:
            first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
            email = f"{first}.{last}{self.rng.randrange(10, 99)}@example.com".lower()
            if email not in self._emails:
                break
        self._emails.add(email)
        row = {"id": self._id("c"), "name": f"{first} {last}", "email": email, "tier": tier, "fraud_hold": fraud_hold}
        self._rows("desk.customers").append(row)
        return row

    def order(self, customer: dict[str, Any], *, status: str = "delivered", delivered_days_ago: int | None = 10,
              late_days: int = 0, items: int = 1, products: list[tuple[str, str, int]] | None = None) -> dict[str, Any]:
        """An order with its captured payment. `late_days` > 0: delivered after the promised day."""
        picked = products or self.rng.sample(CATALOGUE, items)
        lines: list[dict[str, Any]] = [{"sku": sku, "name": name, "qty": 1, "unit_cents": cents} for sku, name, cents in picked]
        total = sum(line["unit_cents"] for line in lines)
        delivered = day(delivered_days_ago) if status == "delivered" and delivered_days_ago is not None else None
        age = (delivered_days_ago or 0) + 5 + max(late_days, 0)
        promised = day((delivered_days_ago or 0) + late_days) if delivered else day(max(0, age - 10) - 3)
        oid = self._id("o")
        pay = self.payment(customer, oid, total, captured_on=day(age))
        row = {"id": oid, "customer_id": customer["id"], "items": lines, "total_cents": total, "status": status,
               "ordered_on": day(age), "promised_on": promised, "delivered_on": delivered, "payment_id": pay["id"]}
        self._rows("desk.orders").append(row)
        return row

    def payment(self, customer: dict[str, Any], order_id: str, amount: int, *, captured_on: str) -> dict[str, Any]:
        row = {"id": self._id("pay"), "order_id": order_id, "customer_id": customer["id"], "amount_cents": amount,
               "refunded_cents": 0, "status": "captured", "captured_on": captured_on}
        self._rows("payments.payments").append(row)
        return row

    def payment_of(self, order: dict[str, Any]) -> dict[str, Any]:
        return next(p for p in self._rows("payments.payments") if p["id"] == order["payment_id"])

    def refunded(self, order: dict[str, Any], cents: int, reason: str = "goodwill") -> dict[str, Any]:
        """A refund made before the task (the payment row is updated to match)."""
        pay = self.payment_of(order)
        pay["refunded_cents"] += cents
        pay["status"] = "refunded" if pay["refunded_cents"] == pay["amount_cents"] else "partially_refunded"
        row = {"id": self._id("ref"), "payment_id": pay["id"], "order_id": order["id"], "customer_id": order["customer_id"],
               "amount_cents": cents, "reason": reason, "created_at": day(3) + "T09:00:00+00:00"}
        self._rows("payments.refunds").append(row)
        return row

    def duplicate_charge(self, order: dict[str, Any]) -> dict[str, Any]:
        """A second capture of the same order's total, a minute's mistake at checkout."""
        customer = {"id": order["customer_id"]}
        return self.payment(customer, order["id"], order["total_cents"], captured_on=order["ordered_on"])

    def ticket(self, customer: dict[str, Any], order: dict[str, Any] | None, *, category: str = "refund",
               reason: str | None = None, status: str = "open", opened_days_ago: int = 1) -> dict[str, Any]:
        what = {"refund": f"Refund request ({(reason or '').replace('_', ' ')})", "late_delivery": "My order came late",
                "duplicate_charge": "I was charged twice", "question": "A question"}[category]
        row = {"id": self._id("t"), "customer_id": customer["id"], "order_id": order["id"] if order else None,
               "category": category, "reason": reason, "subject": what,
               "body": f"Hello, about order {order['id'] if order else '-'}: {what.lower()}.", "status": status,
               "replies": [], "resolution": None if status == "open" else "answered", "team": None, "note": None,
               "opened_on": day(opened_days_ago)}
        self._rows("desk.tickets").append(row)
        return row

    # -- the background ----------------------------------------------------------------------
    def background(self, customers: int = 30) -> None:
        """Ordinary customers with a few orders, old refunds and closed or open questions."""
        rng = self.rng
        for _ in range(customers):
            c = self.customer(tier="gold" if rng.random() < 0.2 else "standard")
            for _ in range(rng.randrange(1, 4)):
                status = rng.choice(("delivered", "delivered", "delivered", "shipped"))
                o = self.order(c, status=status, delivered_days_ago=rng.randrange(5, 200), items=rng.randrange(1, 3))
                if status == "delivered" and rng.random() < 0.15:
                    self.refunded(o, o["total_cents"] // 4)
            if rng.random() < 0.3:
                self.ticket(c, None, category="question", status="closed", opened_days_ago=rng.randrange(5, 90))
