"""`shop`: an online store: a product catalogue, your cart, orders, returns, reviews and
wish list. Money is integer cents everywhere."""

from __future__ import annotations

import datetime as dt
import random
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
    public,
    require_owner,
    sort_param,
    sort_rows,
    stable_id,
)

APP = AppDef(
    "shop",
    "Online shop: browse products, manage your cart and wish list, place, cancel and return orders, write reviews.",
)
TABLES = {
    "products": "category",
    "carts": "user_id",
    "addresses": "user_id",
    "payment_cards": "user_id",
    "orders": "user_id",
    "returns": "user_id",
    "reviews": "user_id",
    "wishlist": "user_id",
}

RETURN_WINDOW_DAYS = 30
ORDER_STATUSES = ("processing", "shipped", "delivered", "cancelled")

# (category, brands, item names). Book titles are whole product names.
_CATALOGUE = (
    ("Books", ("Lantern Press", "Gullwing Books"), (
        "The Dispossessed", "Piranesi", "Middlemarch", "The Left Hand of Darkness", "Kindred", "Station Eleven",
        "The Remains of the Day", "A Wizard of Earthsea", "The Overstory", "Beloved", "Invisible Cities",
        "The Name of the Rose", "Things Fall Apart", "Pachinko", "The Master and Margarita",
    )),
    ("Electronics", ("Voltra", "Kestrel", "Nimbus"), (
        "Wireless Earbuds", "USB-C Charger", "Travel Adapter", "Bluetooth Speaker", "Power Bank", "Smart Watch",
        "Noise Cancelling Headphones", "Webcam", "Mechanical Keyboard", "Wireless Mouse",
    )),
    ("Kitchen", ("Copperleaf", "Hearthware"), (
        "Chef's Knife", "Cast Iron Skillet", "French Press", "Cutting Board", "Stand Mixer", "Kettle",
        "Spice Rack", "Salad Spinner",
    )),
    ("Home", ("Linden & Co", "Nestwell"), (
        "Desk Lamp", "Throw Blanket", "Scented Candle", "Wall Clock", "Plant Pot", "Bath Towel Set", "Storage Basket",
    )),
    ("Outdoors", ("Northpeak", "Trailhead"), (
        "Rain Jacket", "Hiking Backpack", "Water Bottle", "Camping Lantern", "Sleeping Bag", "Trekking Poles",
    )),
    ("Toys", ("Pebble & Pine", "Kitekin"), (
        "Wooden Puzzle", "Building Blocks", "Plush Fox", "Kite", "Board Game", "Jigsaw 1000",
    )),
    ("Beauty", ("Saltwater", "Moss & Bloom"), (
        "Face Cream", "Lip Balm", "Shampoo", "Sunscreen SPF 50", "Hand Soap",
    )),
    ("Sports", ("Stride", "Apex Motion"), (
        "Yoga Mat", "Running Shoes", "Dumbbell Set", "Jump Rope", "Tennis Racket", "Swim Goggles",
    )),
)
CATEGORIES = tuple(c for c, _, _ in _CATALOGUE)
_ADDRESS_NAMES = ("Home", "Work", "Parents")
_STREETS = ("Harbour Street", "Maple Avenue", "Station Road", "Quay Lane", "Hillcrest Drive", "Orchard Way")
_CARD_NAMES = ("Visa", "Mastercard", "Amex")
_REVIEW_TITLES = {
    1: "Very disappointed", 2: "Not great", 3: "It's okay", 4: "Pretty good", 5: "Love it",
}


def _iso(t: dt.datetime) -> str:
    return t.isoformat()


def seed(b: Any, population: Any, rng: random.Random) -> None:
    products: list[dict[str, Any]] = []
    for cat, brands, names in _CATALOGUE:
        for item in names:
            variants = [brands[0]] if cat == "Books" else rng.sample(brands, min(len(brands), rng.randrange(1, 3)))
            for brand in variants:
                pid = stable_id("prod", cat, item, brand)
                name = item if cat == "Books" else f"{brand} {item}"
                base = rng.randrange(8, 40) if cat in ("Books", "Beauty", "Toys") else rng.randrange(12, 260)
                price = base * 100 + rng.choice((0, 49, 95, 99))
                products.append({
                    "id": pid, "name": name, "category": cat, "brand": brand, "price_cents": price,
                    "stock": 0 if rng.random() < 0.12 else rng.randrange(1, 60),
                    "rating": round(rng.uniform(1.8, 5.0), 1), "rating_count": rng.randrange(3, 2400),
                    "description": f"{name}: a {cat.lower()} product by {brand}.",
                })
    for p in products:
        b.add("shop", "products", p["id"], p)

    for person in population.people:
        uid = person.id
        addresses = []
        for k, label in enumerate(_ADDRESS_NAMES[: rng.randrange(1, 4)]):
            aid = stable_id("addr", uid, k)
            row = {"id": aid, "user_id": uid, "name": label,
                   "street": f"{rng.randrange(1, 300)} {rng.choice(_STREETS)}",
                   "city": person.city if label != "Parents" else rng.choice(("Lisbon", "Oslo", "Austin", "Osaka")),
                   "postal_code": f"{rng.randrange(10000, 99999)}"}
            addresses.append(row)
            b.add("shop", "addresses", aid, row)
        cards = []
        last4s: set[str] = set()
        for k in range(rng.randrange(1, 4)):
            while True:
                last4 = f"{rng.randrange(0, 10000):04d}"
                if last4 not in last4s:
                    last4s.add(last4)
                    break
            expired = k > 0 and rng.random() < 0.3
            year = rng.randrange(2023, 2026) if expired else rng.randrange(2027, 2031)
            cid = stable_id("card", uid, k)
            row = {"id": cid, "user_id": uid, "card_name": rng.choice(_CARD_NAMES), "last4": last4,
                   "expiry": f"{year}-{rng.randrange(1, 13):02d}", "holder": f"{person.first_name} {person.last_name}"}
            cards.append(row)
            b.add("shop", "payment_cards", cid, row)

        reviewed: set[str] = set()
        for k in range(rng.randrange(12, 36)):
            r = rng.random()
            status = "processing" if r < 0.12 else "shipped" if r < 0.22 else "cancelled" if r < 0.3 else "delivered"
            days = {"processing": (0, 3), "shipped": (2, 7), "cancelled": (5, 150), "delivered": (4, 150)}[status]
            placed = NOW - dt.timedelta(days=rng.randrange(*days), hours=rng.randrange(0, 20), minutes=rng.randrange(60))
            items = []
            for prod in rng.sample(products, rng.randrange(1, 5)):
                q = 1 if rng.random() < 0.75 else rng.randrange(2, 4)
                items.append({"product_id": prod["id"], "name": prod["name"], "category": prod["category"],
                              "quantity": q, "unit_price_cents": prod["price_cents"],
                              "line_total_cents": q * prod["price_cents"]})
            shipped = placed + dt.timedelta(days=rng.randrange(1, 3)) if status in ("shipped", "delivered") else None
            delivered: dt.datetime | None = None
            if status == "delivered":
                assert shipped is not None  # a delivered order has shipped
                delivered = shipped + dt.timedelta(days=rng.randrange(1, 4), hours=rng.randrange(0, 8))
                if delivered >= NOW:
                    delivered = NOW - dt.timedelta(hours=rng.randrange(2, 20))
            oid = stable_id("order", uid, k)
            order = {
                "id": oid, "user_id": uid, "items": items, "total_cents": sum(i["line_total_cents"] for i in items),
                "status": status, "address_id": rng.choice(addresses)["id"], "payment_card_id": rng.choice(cards)["id"],
                "placed_at": _iso(placed), "shipped_at": shipped and _iso(shipped),
                "delivered_at": delivered and _iso(delivered),
                "cancelled_at": _iso(placed + dt.timedelta(hours=rng.randrange(1, 30))) if status == "cancelled" else None,
            }
            b.add("shop", "orders", oid, order)
            if delivered is None:  # only a delivered order (status "delivered") gets reviews and returns
                continue
            for it in items:
                if it["product_id"] not in reviewed and rng.random() < 0.5:
                    reviewed.add(it["product_id"])
                    stars = rng.choice((1, 2, 3, 4, 4, 5, 5))
                    rid = stable_id("review", uid, it["product_id"])
                    at = _iso(delivered + dt.timedelta(days=rng.randrange(0, 4)))
                    at = min(at, NOW_ISO)
                    b.add("shop", "reviews", rid, {
                        "id": rid, "user_id": uid, "product_id": it["product_id"], "rating": stars,
                        "title": _REVIEW_TITLES[stars], "text": "", "created_at": at, "updated_at": at,
                    })
            if delivered > NOW - dt.timedelta(days=RETURN_WINDOW_DAYS) and rng.random() < 0.25:
                it = rng.choice(items)
                rid = stable_id("return", uid, oid)
                b.add("shop", "returns", rid, {
                    "id": rid, "user_id": uid, "order_id": oid, "product_id": it["product_id"], "quantity": it["quantity"],
                    "reason": "changed my mind", "status": "requested", "refund_cents": it["line_total_cents"],
                    "requested_at": _iso(NOW - dt.timedelta(hours=rng.randrange(1, 30))),
                })
        if rng.random() < 0.5:
            for prod in rng.sample(products, rng.randrange(1, 4)):
                if prod["stock"] > 0:
                    rid = stable_id("cart", uid, prod["id"])
                    b.add("shop", "carts", rid, {"id": rid, "user_id": uid, "product_id": prod["id"], "quantity": 1,
                                                 "added_at": _iso(NOW - dt.timedelta(days=rng.randrange(0, 20)))})
        for prod in rng.sample(products, rng.randrange(3, 26)):
            rid = stable_id("wish", uid, prod["id"])
            b.add("shop", "wishlist", rid, {"id": rid, "user_id": uid, "product_id": prod["id"],
                                            "added_at": _iso(NOW - dt.timedelta(days=rng.randrange(1, 200)))})


# -- helpers ------------------------------------------------------------------------

_PRODUCT = {"id": "string", "name": "string", "category": "string", "brand": "string", "price_cents": "integer",
            "stock": "integer", "in_stock": "boolean", "rating": "number", "rating_count": "integer",
            "description": "string"}
_ITEM = {"product_id": "string", "name": "string", "category": "string", "quantity": "integer",
         "unit_price_cents": "integer", "line_total_cents": "integer"}
_ORDER = {"id": "string", "status": "string", "items": [_ITEM], "total_cents": "integer", "address_id": "string",
          "payment_card_id": "string", "placed_at": "datetime", "shipped_at": "datetime|null",
          "delivered_at": "datetime|null", "cancelled_at": "datetime|null"}
_REVIEW = {"id": "string", "product_id": "string", "product_name": "string", "rating": "integer", "title": "string",
           "text": "string", "created_at": "datetime", "updated_at": "datetime"}
_RETURN = {"id": "string", "order_id": "string", "product_id": "string", "quantity": "integer", "reason": "string",
           "status": "string", "refund_cents": "integer", "requested_at": "datetime"}


def _product(ctx: CallContext, product_id: str) -> dict[str, Any]:
    row = ctx.table("products").get(product_id)
    if row is None:
        raise not_found("shop", "product", product_id)
    return row


def _product_out(p: dict[str, Any]) -> dict[str, Any]:
    return public(p) | {"in_stock": p["stock"] > 0}


def _order(ctx: CallContext, order_id: str) -> dict[str, Any]:
    return require_owner("shop", ctx.table("orders").get(order_id), "user_id", ctx.user, "order", order_id)


def _order_out(o: dict[str, Any]) -> dict[str, Any]:
    out = public(o, "user_id")
    out["items"] = [dict(i) for i in o["items"]]
    return out


def _date_param(api: str, name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value).isoformat()
        return dt.datetime.fromisoformat(value).isoformat()
    except ValueError:
        raise ApiError(f"shop.{api}: parameter '{name}' must be an ISO date (YYYY-MM-DD), got {value!r}.") from None


def _user_row(ctx: CallContext, table: str, product_id: str) -> dict[str, Any] | None:
    for r in ctx.table(table).rows_of(ctx.user):
        if r["product_id"] == product_id:
            return r
    return None



# -- account and catalogue ----------------------------------------------------------


@APP.api(
    "show_account",
    "Show your shop account: email, number of orders, items in the cart and on the wish list.",
    response={"email": "string", "orders": "integer", "cart_items": "integer", "wish_list_items": "integer"},
)
def show_account(ctx):
    return {
        "email": ctx.person(ctx.user)["email"],
        "orders": len(ctx.table("orders").rows_of(ctx.user)),
        "cart_items": len(ctx.table("carts").rows_of(ctx.user)),
        "wish_list_items": len(ctx.table("wishlist").rows_of(ctx.user)),
    }


@APP.api("show_categories", "List the product categories with how many products each has.",
         response=[{"category": "string", "product_count": "integer"}])
def show_categories(ctx):
    products = ctx.table("products")
    return [{"category": c, "product_count": len(products.rows_of(c))} for c in CATEGORIES]


@APP.api(
    "search_products",
    "Search the catalogue. Every filter is optional; the query matches the product name or brand (case-insensitive).",
    [
        Param("query", "string", "Text to find in the product name or brand.", required=False, nullable=True),
        Param("category", "string", "Only products of this category.", required=False, nullable=True, choices=CATEGORIES),
        Param("brand", "string", "Only products of this brand (exact, case-insensitive).", required=False, nullable=True),
        Param("min_price_cents", "integer", "Only products costing at least this.", required=False, nullable=True, minimum=0),
        Param("max_price_cents", "integer", "Only products costing at most this.", required=False, nullable=True, minimum=0),
        Param("min_rating", "number", "Only products rated at least this (1-5).", required=False, nullable=True, minimum=1, maximum=5),
        Param("in_stock", "boolean", "Only products in stock (true) or out of stock (false).", required=False, nullable=True),
        sort_param(("name", "price_cents", "rating", "rating_count"), "name"),
    ],
    response=[_PRODUCT],
    paginated=True,
)
def search_products(ctx, query=None, category=None, brand=None, min_price_cents=None, max_price_cents=None,
                    min_rating=None, in_stock=None, sort_by="name", page_index=0, page_limit=5):
    products = ctx.table("products")
    if category is not None:
        rows = products.rows_of(category)
    else:
        # the untouched common case skips the overlay merge
        rows = products.base.rows.values() if not products.changes else products.rows()
    q = query.lower() if query else None
    br = brand.lower() if brand else None
    out = [
        p for p in rows
        if (q is None or q in p["name"].lower() or q in p["brand"].lower())
        and (br is None or p["brand"].lower() == br)
        and (min_price_cents is None or p["price_cents"] >= min_price_cents)
        and (max_price_cents is None or p["price_cents"] <= max_price_cents)
        and (min_rating is None or p["rating"] >= min_rating)
        and (in_stock is None or (p["stock"] > 0) == in_stock)
    ]
    out = sort_rows(out, sort_by, ("name", "price_cents", "rating", "rating_count"))
    return [_product_out(p) for p in paginate(out, page_index, page_limit)]


@APP.api("show_product", "Show one product.", [Param("product_id", "string", "The product's id.")],
         response=_PRODUCT, errors=("404 product not found",))
def show_product(ctx, product_id):
    return _product_out(_product(ctx, product_id))


# -- reviews ------------------------------------------------------------------------


def _review_out(ctx: CallContext, r: dict[str, Any]) -> dict[str, Any]:
    return public(r, "user_id") | {"product_name": ctx.table("products").ref(r["product_id"])["name"]}


@APP.api(
    "show_product_reviews",
    "List the reviews shoppers wrote of a product, newest first by default.",
    [
        Param("product_id", "string", "The product's id."),
        Param("min_rating", "integer", "Only reviews with at least this many stars.", required=False, nullable=True, minimum=1, maximum=5),
        Param("max_rating", "integer", "Only reviews with at most this many stars.", required=False, nullable=True, minimum=1, maximum=5),
        sort_param(("created_at", "rating"), "-created_at"),
    ],
    response=[_REVIEW | {"reviewer_name": "string"}],
    errors=("404 product not found",),
    paginated=True,
)
def show_product_reviews(ctx, product_id, min_rating=None, max_rating=None, sort_by="-created_at", page_index=0, page_limit=5):
    _product(ctx, product_id)
    rows = [r for r in ctx.table("reviews").rows() if r["product_id"] == product_id
            and (min_rating is None or r["rating"] >= min_rating) and (max_rating is None or r["rating"] <= max_rating)]
    rows = sort_rows(rows, sort_by, ("created_at", "rating"))
    return [_review_out(ctx, r) | {"reviewer_name": ctx.person(r["user_id"])["full_name"]}
            for r in paginate(rows, page_index, page_limit)]


@APP.api(
    "show_my_reviews",
    "List the reviews you wrote, newest first by default.",
    [
        Param("min_rating", "integer", "Only reviews with at least this many stars.", required=False, nullable=True, minimum=1, maximum=5),
        Param("max_rating", "integer", "Only reviews with at most this many stars.", required=False, nullable=True, minimum=1, maximum=5),
        sort_param(("created_at", "rating"), "-created_at"),
    ],
    response=[_REVIEW],
    paginated=True,
)
def show_my_reviews(ctx, min_rating=None, max_rating=None, sort_by="-created_at", page_index=0, page_limit=5):
    rows = [r for r in ctx.table("reviews").rows_of(ctx.user)
            if (min_rating is None or r["rating"] >= min_rating) and (max_rating is None or r["rating"] <= max_rating)]
    rows = sort_rows(rows, sort_by, ("created_at", "rating"))
    return [_review_out(ctx, r) for r in paginate(rows, page_index, page_limit)]


def _delivered_products(ctx: CallContext) -> set[str]:
    return {i["product_id"] for o in ctx.table("orders").rows_of(ctx.user) if o["status"] == "delivered" for i in o["items"]}


@APP.api(
    "write_review",
    "Review a product you received (it must be in one of your delivered orders). One review per product.",
    [
        Param("product_id", "string", "The product's id."),
        Param("rating", "integer", "Stars, 1 to 5.", minimum=1, maximum=5),
        Param("title", "string", "A short headline.", max_length=120),
        Param("text", "string", "The review text.", required=False, default="", max_length=5000),
    ],
    response={"review_id": "string"},
    errors=("404 product not found", "403 you have not received this product", "409 you already reviewed this product"),
    mutates=True, destructive=True, outbound=True,
)
def write_review(ctx, product_id, rating, title, text=""):
    _product(ctx, product_id)
    if product_id not in _delivered_products(ctx):
        raise ApiError(f"shop.write_review: forbidden: product {product_id!r} is not in any of your delivered orders.")
    if _user_row(ctx, "reviews", product_id):
        raise ApiError(f"shop.write_review: you already reviewed product {product_id!r}; use update_review.")
    rid = ctx.new_id("review")
    ctx.table("reviews").insert(rid, {"id": rid, "user_id": ctx.user, "product_id": product_id, "rating": rating,
                                      "title": title, "text": text, "created_at": NOW_ISO, "updated_at": NOW_ISO})
    return {"review_id": rid}


@APP.api(
    "update_review",
    "Change the rating, title and/or text of one of your reviews.",
    [
        Param("review_id", "string", "The review's id."),
        Param("rating", "integer", "New stars, 1 to 5.", required=False, nullable=True, minimum=1, maximum=5),
        Param("title", "string", "New headline.", required=False, nullable=True, max_length=120),
        Param("text", "string", "New text.", required=False, nullable=True, max_length=5000),
    ],
    response={"message": "string"},
    errors=("404 review not found",),
    mutates=True,
)
def update_review(ctx, review_id, rating=None, title=None, text=None):
    require_owner("shop", ctx.table("reviews").get(review_id), "user_id", ctx.user, "review", review_id)
    fields: dict[str, Any] = {"updated_at": NOW_ISO}
    for k, v in (("rating", rating), ("title", title), ("text", text)):
        if v is not None:
            fields[k] = v
    ctx.table("reviews").update(review_id, **fields)
    return {"message": "Review updated."}


@APP.api("delete_review", "Delete one of your reviews.", [Param("review_id", "string", "The review's id.")],
         response={"message": "string"}, errors=("404 review not found",), mutates=True, destructive=True)
def delete_review(ctx, review_id):
    require_owner("shop", ctx.table("reviews").get(review_id), "user_id", ctx.user, "review", review_id)
    ctx.table("reviews").delete(review_id)
    return {"message": "Review deleted."}


# -- cart ---------------------------------------------------------------------------


@APP.api(
    "show_cart",
    "Show your cart: its lines with current prices and the total.",
    response={"items": [_ITEM | {"in_stock": "boolean"}], "total_cents": "integer"},
)
def show_cart(ctx):
    products = ctx.table("products")
    items = []
    for line in ctx.table("carts").rows_of(ctx.user):
        p = products.get(line["product_id"])
        items.append({"product_id": p["id"], "name": p["name"], "category": p["category"], "quantity": line["quantity"],
                      "unit_price_cents": p["price_cents"], "line_total_cents": p["price_cents"] * line["quantity"],
                      "in_stock": p["stock"] >= line["quantity"]})
    return {"items": items, "total_cents": sum(i["line_total_cents"] for i in items)}


def _check_stock(api: str, p: dict[str, Any], quantity: int) -> None:
    if p["stock"] < quantity:
        raise ApiError(f"shop.{api}: not enough stock for product {p['id']!r} ({p['stock']} left, {quantity} wanted).")


@APP.api(
    "add_to_cart",
    "Add a product to your cart; if it is already there, the quantities add up.",
    [Param("product_id", "string", "The product's id."),
     Param("quantity", "integer", "How many.", required=False, default=1, minimum=1, maximum=20)],
    response={"product_id": "string", "quantity": "integer"},
    errors=("404 product not found", "409 not enough stock"),
    mutates=True,
)
def add_to_cart(ctx, product_id, quantity=1):
    p = _product(ctx, product_id)
    line = _user_row(ctx, "carts", product_id)
    new_q = quantity + (line["quantity"] if line else 0)
    _check_stock("add_to_cart", p, new_q)
    carts = ctx.table("carts")
    if line:
        carts.update(line["id"], quantity=new_q)
    else:
        rid = ctx.new_id("cart")
        carts.insert(rid, {"id": rid, "user_id": ctx.user, "product_id": product_id, "quantity": new_q, "added_at": NOW_ISO})
    return {"product_id": product_id, "quantity": new_q}


@APP.api(
    "update_cart_item",
    "Set the quantity of a product in your cart.",
    [Param("product_id", "string", "The product's id."),
     Param("quantity", "integer", "The new quantity.", minimum=1, maximum=20)],
    response={"product_id": "string", "quantity": "integer"},
    errors=("404 product not found or not in your cart", "409 not enough stock"),
    mutates=True,
)
def update_cart_item(ctx, product_id, quantity):
    p = _product(ctx, product_id)
    line = _user_row(ctx, "carts", product_id)
    if line is None:
        raise ApiError(f"shop.update_cart_item: product {product_id!r} not found in your cart.")
    _check_stock("update_cart_item", p, quantity)
    if line["quantity"] != quantity:
        ctx.table("carts").update(line["id"], quantity=quantity)
    return {"product_id": product_id, "quantity": quantity}


@APP.api("remove_from_cart", "Remove a product from your cart.", [Param("product_id", "string", "The product's id.")],
         response={"message": "string"}, errors=("404 product not found or not in your cart",), mutates=True)
def remove_from_cart(ctx, product_id):
    _product(ctx, product_id)
    line = _user_row(ctx, "carts", product_id)
    if line is None:
        raise ApiError(f"shop.remove_from_cart: product {product_id!r} not found in your cart.")
    ctx.table("carts").delete(line["id"])
    return {"message": "Removed from cart."}


@APP.api("clear_cart", "Empty your cart.", response={"removed": "integer"}, mutates=True)
def clear_cart(ctx):
    carts = ctx.table("carts")
    lines = list(carts.rows_of(ctx.user))
    for line in lines:
        carts.delete(line["id"])
    return {"removed": len(lines)}


# -- addresses and cards ------------------------------------------------------------


@APP.api("show_addresses", "List your saved delivery addresses.",
         response=[{"id": "string", "name": "string", "street": "string", "city": "string", "postal_code": "string"}])
def show_addresses(ctx):
    return [public(a, "user_id") for a in ctx.table("addresses").rows_of(ctx.user)]


@APP.api("show_payment_cards", "List your saved payment cards (expiry as YYYY-MM; expired cards cannot pay).",
         response=[{"id": "string", "card_name": "string", "last4": "string", "expiry": "string", "holder": "string",
                    "expired": "boolean"}])
def show_payment_cards(ctx):
    month = TODAY.isoformat()[:7]
    return [public(c, "user_id") | {"expired": c["expiry"] < month} for c in ctx.table("payment_cards").rows_of(ctx.user)]


# -- orders -------------------------------------------------------------------------


@APP.api(
    "place_order",
    "Order the products in your cart (all of them, or only `product_ids`), delivered to a saved address and paid "
    "with a saved card. Ordered lines leave the cart and the stock goes down.",
    [
        Param("address_id", "string", "One of your saved addresses (see show_addresses)."),
        Param("payment_card_id", "string", "One of your saved, unexpired cards (see show_payment_cards)."),
        Param("product_ids", "list[string]", "Order only these products of the cart; default: the whole cart.",
              required=False, nullable=True),
    ],
    response={"order_id": "string", "total_cents": "integer"},
    errors=("404 address, card or cart product not found", "409 the cart is empty", "409 the card has expired",
            "409 not enough stock"),
    mutates=True, destructive=True, outbound=True,
)
def place_order(ctx, address_id, payment_card_id, product_ids=None):
    require_owner("shop", ctx.table("addresses").get(address_id), "user_id", ctx.user, "address", address_id)
    card = require_owner("shop", ctx.table("payment_cards").get(payment_card_id), "user_id", ctx.user, "payment card",
                         payment_card_id)
    if card["expiry"] < TODAY.isoformat()[:7]:
        raise ApiError(f"shop.place_order: payment card {payment_card_id!r} expired in {card['expiry']}.")
    lines = list(ctx.table("carts").rows_of(ctx.user))
    if product_ids is not None:
        by_product = {line["product_id"]: line for line in lines}
        for pid in product_ids:
            if pid not in by_product:
                raise ApiError(f"shop.place_order: product {pid!r} not found in your cart.")
        lines = [by_product[pid] for pid in dict.fromkeys(product_ids)]
    if not lines:
        raise ApiError("shop.place_order: your cart is empty.")
    products = ctx.table("products")
    items = []
    for line in lines:
        p = products.get(line["product_id"])
        _check_stock("place_order", p, line["quantity"])
        items.append({"product_id": p["id"], "name": p["name"], "category": p["category"], "quantity": line["quantity"],
                      "unit_price_cents": p["price_cents"], "line_total_cents": p["price_cents"] * line["quantity"]})
    for line, item in zip(lines, items):
        p = products.get(item["product_id"])
        products.update(p["id"], stock=p["stock"] - item["quantity"])
        ctx.table("carts").delete(line["id"])
    oid = ctx.new_id("order")
    total = sum(i["line_total_cents"] for i in items)
    ctx.table("orders").insert(oid, {
        "id": oid, "user_id": ctx.user, "items": items, "total_cents": total, "status": "processing",
        "address_id": address_id, "payment_card_id": payment_card_id, "placed_at": NOW_ISO, "shipped_at": None,
        "delivered_at": None, "cancelled_at": None,
    })
    return {"order_id": oid, "total_cents": total}


@APP.api(
    "show_orders",
    "List your orders, newest first by default, optionally filtered by status, time placed or delivered, or a product.",
    [
        Param("status", "string", "Only orders with this status.", required=False, nullable=True, choices=ORDER_STATUSES),
        Param("placed_after", "string", "Only orders placed at or after this date (YYYY-MM-DD).", required=False, nullable=True),
        Param("placed_before", "string", "Only orders placed before this date (YYYY-MM-DD).", required=False, nullable=True),
        Param("delivered_after", "string", "Only orders delivered at or after this date (YYYY-MM-DD).", required=False, nullable=True),
        Param("product_id", "string", "Only orders containing this product.", required=False, nullable=True),
        sort_param(("placed_at", "total_cents", "delivered_at"), "-placed_at"),
    ],
    response=[_ORDER],
    paginated=True,
)
def show_orders(ctx, status=None, placed_after=None, placed_before=None, delivered_after=None, product_id=None,
                sort_by="-placed_at", page_index=0, page_limit=5):
    lo = _date_param("show_orders", "placed_after", placed_after)
    hi = _date_param("show_orders", "placed_before", placed_before)
    dlo = _date_param("show_orders", "delivered_after", delivered_after)
    rows = [
        o for o in ctx.table("orders").rows_of(ctx.user)
        if (status is None or o["status"] == status)
        and (lo is None or o["placed_at"] >= lo)
        and (hi is None or o["placed_at"] < hi)
        and (dlo is None or (o["delivered_at"] is not None and o["delivered_at"] >= dlo))
        and (product_id is None or any(i["product_id"] == product_id for i in o["items"]))
    ]
    rows = sort_rows(rows, sort_by, ("placed_at", "total_cents", "delivered_at"))
    return [_order_out(o) for o in paginate(rows, page_index, page_limit)]


@APP.api("show_order", "Show one of your orders.", [Param("order_id", "string", "The order's id.")],
         response=_ORDER, errors=("404 order not found",))
def show_order(ctx, order_id):
    return _order_out(_order(ctx, order_id))


@APP.api(
    "cancel_order",
    "Cancel one of your orders; only orders still 'processing' (not shipped) can be cancelled.",
    [Param("order_id", "string", "The order's id.")],
    response={"message": "string", "refund_cents": "integer"},
    errors=("404 order not found", "409 the order has already shipped or was cancelled"),
    mutates=True, destructive=True,
)
def cancel_order(ctx, order_id):
    o = _order(ctx, order_id)
    if o["status"] != "processing":
        raise ApiError(f"shop.cancel_order: order {order_id!r} is {o['status']}; only processing orders can be cancelled.")
    ctx.table("orders").update(order_id, status="cancelled", cancelled_at=NOW_ISO)
    return {"message": "Order cancelled.", "refund_cents": o["total_cents"]}


# -- returns ------------------------------------------------------------------------


def _returned_quantity(ctx: CallContext, order_id: str, product_id: str) -> int:
    return sum(r["quantity"] for r in ctx.table("returns").rows_of(ctx.user)
               if r["order_id"] == order_id and r["product_id"] == product_id)


@APP.api(
    "request_return",
    f"Return a product of a delivered order, within {RETURN_WINDOW_DAYS} days of delivery. The refund is the price "
    "paid for the returned quantity.",
    [
        Param("order_id", "string", "The order's id."),
        Param("product_id", "string", "The product to return."),
        Param("quantity", "integer", "How many; default: all not yet returned.", required=False, nullable=True, minimum=1),
        Param("reason", "string", "Why you return it.", required=False, default="", max_length=500),
    ],
    response={"return_id": "string", "refund_cents": "integer"},
    errors=("404 order not found, or the product is not in it", "409 the order is not delivered",
            f"409 more than {RETURN_WINDOW_DAYS} days since delivery", "409 more than the remaining quantity"),
    mutates=True, destructive=True, outbound=True,
)
def request_return(ctx, order_id, product_id, quantity=None, reason=""):
    o = _order(ctx, order_id)
    item = next((i for i in o["items"] if i["product_id"] == product_id), None)
    if item is None:
        raise ApiError(f"shop.request_return: product {product_id!r} not found in order {order_id!r}.")
    if o["status"] != "delivered":
        raise ApiError(f"shop.request_return: order {order_id!r} is {o['status']}; only delivered orders can be returned.")
    if dt.datetime.fromisoformat(o["delivered_at"]) < NOW - dt.timedelta(days=RETURN_WINDOW_DAYS):
        raise ApiError(f"shop.request_return: order {order_id!r} was delivered more than {RETURN_WINDOW_DAYS} days ago.")
    remaining = item["quantity"] - _returned_quantity(ctx, order_id, product_id)
    if remaining <= 0:
        raise ApiError(f"shop.request_return: product {product_id!r} of order {order_id!r} was already returned.")
    q = remaining if quantity is None else quantity
    if q > remaining:
        raise ApiError(f"shop.request_return: parameter 'quantity' must be <= {remaining} (not yet returned), got {q}.")
    rid = ctx.new_id("return")
    refund = item["unit_price_cents"] * q
    ctx.table("returns").insert(rid, {
        "id": rid, "user_id": ctx.user, "order_id": order_id, "product_id": product_id, "quantity": q, "reason": reason,
        "status": "requested", "refund_cents": refund, "requested_at": NOW_ISO,
    })
    return {"return_id": rid, "refund_cents": refund}


@APP.api(
    "show_returns",
    "List your return requests, newest first by default.",
    [
        Param("order_id", "string", "Only returns of this order.", required=False, nullable=True),
        sort_param(("requested_at", "refund_cents"), "-requested_at"),
    ],
    response=[_RETURN],
    paginated=True,
)
def show_returns(ctx, order_id=None, sort_by="-requested_at", page_index=0, page_limit=5):
    rows = [r for r in ctx.table("returns").rows_of(ctx.user) if order_id is None or r["order_id"] == order_id]
    rows = sort_rows(rows, sort_by, ("requested_at", "refund_cents"))
    return [public(r, "user_id") for r in paginate(rows, page_index, page_limit)]


# -- wish list ----------------------------------------------------------------------


@APP.api(
    "show_wish_list",
    "List the products on your wish list, most recently added first by default.",
    [sort_param(("added_at", "name", "price_cents"), "-added_at")],
    response=[_PRODUCT | {"added_at": "datetime"}],
    paginated=True,
)
def show_wish_list(ctx, sort_by="-added_at", page_index=0, page_limit=5):
    products = ctx.table("products")
    rows = [_product_out(products.get(w["product_id"])) | {"added_at": w["added_at"]} for w in ctx.table("wishlist").rows_of(ctx.user)]
    rows = sort_rows(rows, sort_by, ("added_at", "name", "price_cents"))
    return paginate(rows, page_index, page_limit)


@APP.api("add_to_wish_list", "Add a product to your wish list.", [Param("product_id", "string", "The product's id.")],
         response={"message": "string"}, errors=("404 product not found", "409 already on your wish list"), mutates=True)
def add_to_wish_list(ctx, product_id):
    _product(ctx, product_id)
    if _user_row(ctx, "wishlist", product_id):
        raise ApiError(f"shop.add_to_wish_list: product {product_id!r} is already on your wish list.")
    rid = ctx.new_id("wish")
    ctx.table("wishlist").insert(rid, {"id": rid, "user_id": ctx.user, "product_id": product_id, "added_at": NOW_ISO})
    return {"message": "Added to wish list."}


@APP.api("remove_from_wish_list", "Remove a product from your wish list.", [Param("product_id", "string", "The product's id.")],
         response={"message": "string"}, errors=("404 product not found or not on your wish list",), mutates=True)
def remove_from_wish_list(ctx, product_id):
    _product(ctx, product_id)
    row = _user_row(ctx, "wishlist", product_id)
    if row is None:
        raise ApiError(f"shop.remove_from_wish_list: product {product_id!r} not found on your wish list.")
    ctx.table("wishlist").delete(row["id"])
    return {"message": "Removed from wish list."}
