"""Scenarios over `music` and `shop` (some with `notes`).

`music` appears in no train scenario, so its scenarios can serve as test_challenge (apps
unseen in training); `shop` carries the train, test_normal and most dev scenarios.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from skillbank.worlds.apps.scenario import Line, ScenarioDef, TaskSpec, lines_match
from skillbank.worlds.engine.api import NOW
from skillbank.worlds.engine.grading import Allow, Expect


def _login(app: str) -> str:
    """The login lines every skill starts with (indented for a function body)."""
    return (
        "    profile = apis.supervisor.show_profile()\n"
        '    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}\n'
        f'    {app}_token = apis.{app}.login(username=profile["email"], password=passwords["{app}"])["access_token"]\n'
    )


def _skill(template: str, *apps: str) -> str:
    lines = "".join(_login(a) if i == 0 else _login(a).split("\n", 2)[2] for i, a in enumerate(apps))
    return template.replace("    __LOGIN__\n", lines)


def _dollars(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _explore(*pairs: tuple[str, str]) -> str:
    apps = dict.fromkeys(a for a, _ in pairs)
    out = [f'print(apis.api_docs.show_api_descriptions(app_name="{a}"))' for a in apps]
    out += [f'print(apis.api_docs.show_api_doc(app_name="{a}", api_name="{n}"))' for a, n in pairs]
    return "\n".join(out)


def _pick(data: Any, rng: random.Random, make: Callable[[Any], TaskSpec | None], n: int = 3) -> list[TaskSpec]:
    """Try people in a seeded random order; keep the first `n` for whom the task is meaningful."""
    people = list(data.people)
    rng.shuffle(people)
    specs: list[TaskSpec] = []
    for person in people:
        spec = make(person)
        if spec is not None:
            specs.append(spec)
            if len(specs) == n:
                break
    return specs


def _products(data: Any) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for p in data.rows("shop", "products")}


def _lines(text: str) -> list[str]:
    return [" ".join(line.split()).lower() for line in text.splitlines() if line.strip()]


def _month_name(d: dt.date) -> str:
    return f"{d.strftime('%B')} {d.day}, {d.year}"


def _stock_updates(products: dict[str, dict[str, Any]], items: list[tuple[str, int]]) -> tuple[Expect, ...]:
    return tuple(
        Expect("shop", "products", "update", match={"id": pid, "stock": products[pid]["stock"] - q},
               only_fields=frozenset({"stock"}), label=f"stock of {products[pid]['name']} goes down by {q}")
        for pid, q in items
    )


def _items_are(want: list[tuple[str, int]]) -> Callable[[Any], bool]:
    key = sorted(want)
    return lambda items: isinstance(items, list) and sorted((i["product_id"], i["quantity"]) for i in items) == key


# =======================================================================================
# shop, train
# =======================================================================================

_CANCEL_BRAND_SKILL = '''
def cancel_unshipped_orders_with_brand(brand: str) -> str:
    """Cancel every order of the supervisor that is still processing (not shipped) and
    contains at least one product of `brand`.

    Returns the total refunded, in dollars, as a string like "123.45".
    """
    __LOGIN__
    orders = []
    page = 0
    while True:
        batch = apis.shop.show_orders(access_token=shop_token, status="processing", page_index=page, page_limit=20)
        if not batch:
            break
        orders.extend(batch)
        page += 1
    brand_of = {}
    refunded_cents = 0
    for order in orders:
        for item in order["items"]:
            pid = item["product_id"]
            if pid not in brand_of:
                brand_of[pid] = apis.shop.show_product(access_token=shop_token, product_id=pid)["brand"]
        if any(brand_of[i["product_id"]].lower() == brand.lower() for i in order["items"]):
            refunded_cents += apis.shop.cancel_order(access_token=shop_token, order_id=order["id"])["refund_cents"]
    return f"{refunded_cents // 100}.{refunded_cents % 100:02d}"
'''


def _build_cancel_brand(data: Any, rng: random.Random) -> list[TaskSpec]:
    products = _products(data)

    def make(person: Any) -> TaskSpec | None:
        processing = [o for o in data.rows_of("shop", "orders", person.id) if o["status"] == "processing"]
        brands = sorted({products[i["product_id"]]["brand"] for o in processing for i in o["items"]})
        if not brands:
            return None
        brand = rng.choice(brands)
        hits = [o for o in processing if any(products[i["product_id"]]["brand"] == brand for i in o["items"])]
        return TaskSpec(
            instruction=f"Cancel all of my shop orders that haven't shipped yet and include a {brand} product. "
                        "How much money will I get back in total, in dollars?",
            supervisor=person.id,
            call=f"cancel_unshipped_orders_with_brand(brand={brand!r})",
            expect=tuple(
                Expect("shop", "orders", "update", match={"id": o["id"], "status": "cancelled"},
                       only_fields=frozenset({"status", "cancelled_at"}))
                for o in hits
            ),
            answer=_dollars(sum(o["total_cents"] for o in hits)),
        )

    return _pick(data, rng, make)


_WISH_TO_CART_SKILL = '''
def move_affordable_wishes_to_cart(max_price_cents: int) -> int:
    """Move every in-stock wish-list product costing at most `max_price_cents` into the
    cart (one of each) and take it off the wish list.

    Returns how many products were moved.
    """
    __LOGIN__
    wishes = []
    page = 0
    while True:
        batch = apis.shop.show_wish_list(access_token=shop_token, page_index=page, page_limit=20)
        if not batch:
            break
        wishes.extend(batch)
        page += 1
    moved = 0
    for product in wishes:
        if product["in_stock"] and product["price_cents"] <= max_price_cents:
            apis.shop.add_to_cart(access_token=shop_token, product_id=product["id"], quantity=1)
            apis.shop.remove_from_wish_list(access_token=shop_token, product_id=product["id"])
            moved += 1
    return moved
'''


def _build_wish_to_cart(data: Any, rng: random.Random) -> list[TaskSpec]:
    products = _products(data)

    def make(person: Any) -> TaskSpec | None:
        wishes = data.rows_of("shop", "wishlist", person.id)
        cart = {c["product_id"]: c for c in data.rows_of("shop", "carts", person.id)}
        stocked = sorted({products[w["product_id"]]["price_cents"] for w in wishes if products[w["product_id"]]["stock"] > 0})
        if len(stocked) < 2:
            return None
        limit_dollars = stocked[rng.randrange(0, len(stocked) - 1)] // 100 + 1
        if limit_dollars * 100 >= stocked[-1]:
            return None
        hits = [w for w in wishes if products[w["product_id"]]["stock"] > 0
                and products[w["product_id"]]["price_cents"] <= limit_dollars * 100]
        if any(w["product_id"] in cart and cart[w["product_id"]]["quantity"] + 1 > products[w["product_id"]]["stock"] for w in hits):
            return None
        expect: list[Expect] = []
        for w in hits:
            pid = w["product_id"]
            if pid in cart:
                expect.append(Expect("shop", "carts", "update", match={"id": cart[pid]["id"], "quantity": cart[pid]["quantity"] + 1},
                                     only_fields=frozenset({"quantity"})))
            else:
                expect.append(Expect("shop", "carts", "insert", match={"user_id": person.id, "product_id": pid, "quantity": 1}))
            expect.append(Expect("shop", "wishlist", "delete", match={"id": w["id"]}))
        return TaskSpec(
            instruction=f"Go through my shop wish list and move everything that's in stock and costs at most "
                        f"${limit_dollars} into my cart (one of each), taking it off the wish list. How many did you move?",
            supervisor=person.id,
            call=f"move_affordable_wishes_to_cart(max_price_cents={limit_dollars * 100})",
            expect=tuple(expect),
            answer=len(hits),
        )

    return _pick(data, rng, make)


_REVIEW_UNREVIEWED_SKILL = '''
def review_unreviewed_purchases(category: str, rating: int, title: str) -> int:
    """Write a review (`rating` stars, headline `title`) for every product of `category`
    in the supervisor's delivered orders that they have not reviewed yet.

    Returns how many reviews were written.
    """
    __LOGIN__
    received = []
    page = 0
    while True:
        batch = apis.shop.show_orders(access_token=shop_token, status="delivered", page_index=page, page_limit=20)
        if not batch:
            break
        for order in batch:
            for item in order["items"]:
                if item["category"].lower() == category.lower() and item["product_id"] not in received:
                    received.append(item["product_id"])
        page += 1
    reviewed = set()
    page = 0
    while True:
        batch = apis.shop.show_my_reviews(access_token=shop_token, page_index=page, page_limit=20)
        if not batch:
            break
        reviewed.update(r["product_id"] for r in batch)
        page += 1
    written = 0
    for product_id in received:
        if product_id not in reviewed:
            apis.shop.write_review(access_token=shop_token, product_id=product_id, rating=rating, title=title)
            written += 1
    return written
'''


def _build_review_unreviewed(data: Any, rng: random.Random) -> list[TaskSpec]:
    titles = ("Would buy again", "Does the job", "Great value", "Solid purchase")

    def make(person: Any) -> TaskSpec | None:
        reviewed = {r["product_id"] for r in data.rows_of("shop", "reviews", person.id)}
        by_cat: dict[str, set[str]] = {}
        for o in data.rows_of("shop", "orders", person.id):
            if o["status"] == "delivered":
                for i in o["items"]:
                    if i["product_id"] not in reviewed:
                        by_cat.setdefault(i["category"], set()).add(i["product_id"])
        if not by_cat:
            return None
        category = rng.choice(sorted(by_cat))
        rating, title = rng.choice((4, 5)), rng.choice(titles)
        hits = sorted(by_cat[category])
        return TaskSpec(
            instruction=f"Give a {rating}-star review titled \"{title}\" to every {category} product I've received "
                        "from the shop that I haven't reviewed yet. Tell me how many reviews you wrote.",
            supervisor=person.id,
            call=f"review_unreviewed_purchases(category={category!r}, rating={rating}, title={title!r})",
            expect=tuple(
                Expect("shop", "reviews", "insert", match={"user_id": person.id, "product_id": pid, "rating": rating, "title": title})
                for pid in hits
            ),
            answer=len(hits),
        )

    return _pick(data, rng, make)


_BOOK_LIST_SKILL = '''
def order_books_from_note(note_title: str, address_name: str, card_last4: str, copies: int = 1) -> str:
    """Order `copies` copies of every book listed (separated by ';') in the supervisor's
    note titled `note_title` that has enough stock, delivered to the saved address named
    `address_name` and paid with the card ending in `card_last4`. Other cart contents
    are left alone.

    Returns the order total in dollars, as a string like "42.90".
    """
    __LOGIN__
    note = None
    page = 0
    while note is None:
        batch = apis.notes.show_notes(access_token=notes_token, query=note_title, page_index=page, page_limit=20)
        if not batch:
            break
        note = next((n for n in batch if n["title"].lower() == note_title.lower()), None)
        page += 1
    if note is None:
        raise ValueError(f"no note titled {note_title!r}")
    titles = [t.strip() for t in note["content"].replace("\\n", ";").split(";") if t.strip()]
    product_ids = []
    for title in titles:
        results = apis.shop.search_products(access_token=shop_token, query=title, category="Books", in_stock=True, page_limit=20)
        match = next((p for p in results if p["name"].lower() == title.lower() and p["stock"] >= copies), None)
        if match is not None:
            apis.shop.add_to_cart(access_token=shop_token, product_id=match["id"], quantity=copies)
            product_ids.append(match["id"])
    address = next(a for a in apis.shop.show_addresses(access_token=shop_token) if a["name"].lower() == address_name.lower())
    card = next(c for c in apis.shop.show_payment_cards(access_token=shop_token) if c["last4"] == card_last4)
    order = apis.shop.place_order(access_token=shop_token, address_id=address["id"], payment_card_id=card["id"],
                                  product_ids=product_ids)
    return f"{order['total_cents'] // 100}.{order['total_cents'] % 100:02d}"
'''


def _build_book_list(data: Any, rng: random.Random) -> list[TaskSpec]:
    products = _products(data)
    books = {p["name"].lower(): p for p in products.values() if p["category"] == "Books"}
    month = NOW.date().isoformat()[:7]

    def make(person: Any) -> TaskSpec | None:
        notes = [n for n in data.rows_of("notes", "notes", person.id) if n["title"].lower() == "book list"]
        if len(notes) != 1:
            return None
        titles = [t.strip() for t in notes[0]["content"].split(";") if t.strip()]
        copies = rng.choice((1, 2, 3))
        wanted = [books[t.lower()] for t in titles if t.lower() in books and books[t.lower()]["stock"] >= copies]
        cart = {c["product_id"] for c in data.rows_of("shop", "carts", person.id)}
        cards = [c for c in data.rows_of("shop", "payment_cards", person.id) if c["expiry"] >= month]
        if not wanted or cart & {p["id"] for p in wanted} or not cards:
            return None
        address = rng.choice(data.rows_of("shop", "addresses", person.id))
        card = rng.choice(cards)
        items = [(p["id"], copies) for p in wanted]
        amount = {1: "one copy", 2: "two copies", 3: "three copies"}[copies]
        return TaskSpec(
            instruction=f"Buy {amount} of each book on my \"Book list\" note from the shop (skip any without enough stock), "
                        f"delivered to my {address['name'].lower()} address and paid with my card ending in {card['last4']}. "
                        "What's the order total in dollars?",
            supervisor=person.id,
            call=f"order_books_from_note(note_title='Book list', address_name={address['name']!r}, card_last4={card['last4']!r}, copies={copies})",
            expect=(
                Expect("shop", "orders", "insert", match={
                    "user_id": person.id, "status": "processing", "address_id": address["id"],
                    "payment_card_id": card["id"], "items": _items_are(items),
                }, label="one order with the listed books"),
                *_stock_updates(products, items),
            ),
            answer=_dollars(sum(p["price_cents"] * copies for p in wanted)),
        )

    return _pick(data, rng, make)


_SPENDING_SKILL = '''
def spending_on_category(category: str, start_date: str, end_date: str) -> str:
    """Total the supervisor spent on `category` products in orders placed from
    `start_date` (inclusive) to `end_date` (exclusive), both YYYY-MM-DD, cancelled
    orders excluded.

    Returns dollars as a string like "123.45" (summed exactly in cents).
    """
    __LOGIN__
    total_cents = 0
    page = 0
    while True:
        batch = apis.shop.show_orders(access_token=shop_token, placed_after=start_date, placed_before=end_date,
                                      page_index=page, page_limit=20)
        if not batch:
            break
        for order in batch:
            if order["status"] == "cancelled":
                continue
            total_cents += sum(i["line_total_cents"] for i in order["items"] if i["category"].lower() == category.lower())
        page += 1
    return f"{total_cents // 100}.{total_cents % 100:02d}"
'''


def _build_spending(data: Any, rng: random.Random) -> list[TaskSpec]:
    months = (("2026-02-01", "2026-03-01", "February 2026"), ("2026-03-01", "2026-04-01", "March 2026"),
              ("2026-04-01", "2026-05-01", "April 2026"))

    def make(person: Any) -> TaskSpec | None:
        start, end, label = rng.choice(months)
        spent: Counter[str] = Counter()
        for o in data.rows_of("shop", "orders", person.id):
            if o["status"] != "cancelled" and start <= o["placed_at"] < end:
                for i in o["items"]:
                    spent[i["category"]] += i["line_total_cents"]
        if not spent:
            return None
        category = rng.choice(sorted(spent))
        return TaskSpec(
            instruction=f"How much did I spend on {category} in the shop orders I placed in {label}? "
                        "Don't count cancelled orders. Answer in dollars.",
            supervisor=person.id,
            call=f"spending_on_category(category={category!r}, start_date={start!r}, end_date={end!r})",
            answer=_dollars(spent[category]),
        )

    return _pick(data, rng, make)


_RETURN_LOW_RATED_SKILL = '''
def return_poorly_rated_since(since_date: str, max_stars: int, reason: str) -> str:
    """Request a return, with `reason`, of every item delivered to the supervisor on or
    after `since_date` (YYYY-MM-DD) whose product they reviewed with at most `max_stars`
    stars; quantities already returned are skipped.

    Returns the total refund in dollars, as a string like "54.00".
    """
    __LOGIN__
    low_rated = set()
    page = 0
    while True:
        batch = apis.shop.show_my_reviews(access_token=shop_token, max_rating=max_stars, page_index=page, page_limit=20)
        if not batch:
            break
        low_rated.update(r["product_id"] for r in batch)
        page += 1
    returned = {}
    page = 0
    while True:
        batch = apis.shop.show_returns(access_token=shop_token, page_index=page, page_limit=20)
        if not batch:
            break
        for r in batch:
            key = (r["order_id"], r["product_id"])
            returned[key] = returned.get(key, 0) + r["quantity"]
        page += 1
    refund_cents = 0
    page = 0
    orders = []
    while True:
        batch = apis.shop.show_orders(access_token=shop_token, status="delivered", delivered_after=since_date,
                                      page_index=page, page_limit=20)
        if not batch:
            break
        orders.extend(batch)
        page += 1
    for order in orders:
        for item in order["items"]:
            if item["product_id"] not in low_rated:
                continue
            remaining = item["quantity"] - returned.get((order["id"], item["product_id"]), 0)
            if remaining > 0:
                refund_cents += apis.shop.request_return(access_token=shop_token, order_id=order["id"],
                                                         product_id=item["product_id"], quantity=remaining,
                                                         reason=reason)["refund_cents"]
    return f"{refund_cents // 100}.{refund_cents % 100:02d}"
'''


def _returned(data: Any, pid: str) -> Counter[tuple[str, str]]:
    out: Counter[tuple[str, str]] = Counter()
    for r in data.rows_of("shop", "returns", pid):
        out[(r["order_id"], r["product_id"])] += r["quantity"]
    return out


def _return_specs(data: Any, person: Any, since: str, keep: Callable[[dict[str, Any]], bool], reason: str
                  ) -> tuple[tuple[Expect, ...], int]:
    returned = _returned(data, person.id)
    expect, refund = [], 0
    for o in data.rows_of("shop", "orders", person.id):
        if o["status"] != "delivered" or o["delivered_at"] < since:
            continue
        for i in o["items"]:
            remaining = i["quantity"] - returned[(o["id"], i["product_id"])]
            if keep(i) and remaining > 0:
                expect.append(Expect("shop", "returns", "insert", match={
                    "user_id": person.id, "order_id": o["id"], "product_id": i["product_id"], "quantity": remaining,
                    "reason": reason, "refund_cents": remaining * i["unit_price_cents"]}))
                refund += remaining * i["unit_price_cents"]
    return tuple(expect), refund


def _build_return_low_rated(data: Any, rng: random.Random) -> list[TaskSpec]:
    dates = ("2026-04-20", "2026-04-25", "2026-05-01")

    def make(person: Any) -> TaskSpec | None:
        since = rng.choice(dates)
        low = {r["product_id"] for r in data.rows_of("shop", "reviews", person.id) if r["rating"] <= 2}
        expect, refund = _return_specs(data, person, since, lambda i: i["product_id"] in low, "poor quality")
        if not expect:
            return None
        d = dt.date.fromisoformat(since)
        return TaskSpec(
            instruction=f"Return everything delivered to me since {_month_name(d)} that I gave fewer than 3 stars in my "
                        "shop reviews, with the reason \"poor quality\". How much will I be refunded in total, in dollars?",
            supervisor=person.id,
            call=f"return_poorly_rated_since(since_date={since!r}, max_stars=2, reason='poor quality')",
            expect=expect,
            answer=_dollars(refund),
        )

    return _pick(data, rng, make)


_OPEN_ORDERS_NOTE_SKILL = '''
def note_open_orders(note_title: str) -> int:
    """Create a note titled `note_title` listing every shop order of the supervisor that is
    not delivered yet (processing or shipped): one line per order with its id, status,
    item names and total.

    Returns how many orders were listed.
    """
    __LOGIN__
    lines = []
    for status in ("processing", "shipped"):
        page = 0
        while True:
            batch = apis.shop.show_orders(access_token=shop_token, status=status, page_index=page, page_limit=20)
            if not batch:
                break
            for order in batch:
                names = ", ".join(i["name"] for i in order["items"])
                total = f"{order['total_cents'] // 100}.{order['total_cents'] % 100:02d}"
                lines.append(f"{order['id']} ({status}): {names} - ${total}")
            page += 1
    apis.notes.create_note(access_token=notes_token, title=note_title, content="\\n".join(lines))
    return len(lines)
'''


def _build_open_orders_note(data: Any, rng: random.Random) -> list[TaskSpec]:
    titles = ("Pending deliveries", "Orders on the way", "Open orders")

    def make(person: Any) -> TaskSpec | None:
        orders = data.rows_of("shop", "orders", person.id)
        open_ids = {o["id"] for o in orders if o["status"] in ("processing", "shipped")}
        if not open_ids:
            return None
        title = rng.choice(titles)
        return TaskSpec(
            instruction=f"Make a note titled \"{title}\" listing each of my shop orders that hasn't been delivered yet "
                        "(still processing or shipped), one line per order with its order id, item names and total. "
                        "How many orders are on it?",
            supervisor=person.id,
            call=f"note_open_orders(note_title={title!r})",
            expect=(
                Expect("notes", "notes", "insert", match={
                    "owner_id": person.id, "title": title,
                    "content": lines_match(
                        [Line((o["id"], *(i["name"] for i in o["items"])), (o["total_cents"],))
                         for o in orders if o["id"] in open_ids],
                        forbidden=sorted({o["id"] for o in orders} - open_ids),
                    ),
                }, label="a note with one line per undelivered order: its id, item names and total"),
            ),
            answer=len(open_ids),
        )

    return _pick(data, rng, make)


_RERATE_BRAND_SKILL = '''
def rerate_brand_reviews(brand: str, rating: int) -> int:
    """Set the star rating of every shop review the supervisor wrote of a `brand` product
    to `rating` (reviews already at `rating` are left untouched).

    Returns how many reviews were changed.
    """
    __LOGIN__
    reviews = []
    page = 0
    while True:
        batch = apis.shop.show_my_reviews(access_token=shop_token, page_index=page, page_limit=20)
        if not batch:
            break
        reviews.extend(batch)
        page += 1
    changed = 0
    for review in reviews:
        product = apis.shop.show_product(access_token=shop_token, product_id=review["product_id"])
        if product["brand"].lower() == brand.lower() and review["rating"] != rating:
            apis.shop.update_review(access_token=shop_token, review_id=review["id"], rating=rating)
            changed += 1
    return changed
'''


def _build_rerate_brand(data: Any, rng: random.Random) -> list[TaskSpec]:
    products = _products(data)

    def make(person: Any) -> TaskSpec | None:
        reviews = data.rows_of("shop", "reviews", person.id)
        brands = sorted({products[r["product_id"]]["brand"] for r in reviews})
        if not brands:
            return None
        brand = rng.choice(brands)
        rating = rng.choice((1, 2, 5))
        mine = [r for r in reviews if products[r["product_id"]]["brand"] == brand]
        hits = [r for r in mine if r["rating"] != rating]
        if not hits:
            return None
        verdict = "now love" if rating == 5 else "am now disappointed with"
        return TaskSpec(
            instruction=f"I've changed my mind and {verdict} {brand}: change every shop review I wrote of a {brand} product to {rating} "
                        f"star{'s' if rating > 1 else ''}. How many reviews did you change?",
            supervisor=person.id,
            call=f"rerate_brand_reviews(brand={brand!r}, rating={rating})",
            expect=tuple(
                Expect("shop", "reviews", "update", match={"id": r["id"], "rating": rating},
                       only_fields=frozenset({"rating", "updated_at"}))
                for r in hits
            ),
            # a review already at the rating may be re-saved harmlessly
            allow=tuple(Allow("shop", "reviews", "update", match={"id": r["id"], "rating": rating}) for r in mine if r not in hits),
            answer=len(hits),
        )

    return _pick(data, rng, make)


# =======================================================================================
# shop, dev and test_normal
# =======================================================================================

_CHEAPEST_SKILL = '''
def add_cheapest_well_rated(category: str, min_rating: float, quantity: int) -> str:
    """Add `quantity` of the cheapest product of `category` rated at least `min_rating`
    that has enough stock to the cart.

    Returns the product's name.
    """
    __LOGIN__
    page = 0
    while True:
        batch = apis.shop.search_products(access_token=shop_token, category=category, min_rating=min_rating,
                                          in_stock=True, sort_by="price_cents", page_index=page, page_limit=20)
        if not batch:
            raise ValueError(f"no {category} product rated {min_rating}+ has {quantity} in stock")
        for product in batch:
            if product["stock"] >= quantity:
                apis.shop.add_to_cart(access_token=shop_token, product_id=product["id"], quantity=quantity)
                return product["name"]
        page += 1
'''


def _build_cheapest(data: Any, rng: random.Random) -> list[TaskSpec]:
    products = list(_products(data).values())

    def make(person: Any) -> TaskSpec | None:
        category = rng.choice(sorted({p["category"] for p in products}))
        min_rating = rng.choice((3.5, 4, 4.5))
        quantity = rng.choice((1, 2, 3))
        cart = {c["product_id"]: c for c in data.rows_of("shop", "carts", person.id)}
        ok = sorted((p for p in products if p["category"] == category and p["rating"] >= min_rating and p["stock"] >= quantity),
                    key=lambda p: p["price_cents"])
        if not ok or (len(ok) > 1 and ok[0]["price_cents"] == ok[1]["price_cents"]) or ok[0]["id"] in cart:
            return None
        best = ok[0]
        return TaskSpec(
            instruction=f"Add {quantity} unit{'s' if quantity > 1 else ''} of the cheapest {category} product rated at least {min_rating:g} stars to my "
                        "shop cart (it must have enough stock). Which product did you pick?",
            supervisor=person.id,
            call=f"add_cheapest_well_rated(category={category!r}, min_rating={min_rating!r}, quantity={quantity})",
            expect=(Expect("shop", "carts", "insert", match={"user_id": person.id, "product_id": best["id"], "quantity": quantity}),),
            answer=best["name"],
        )

    return _pick(data, rng, make)


_REORDER_SKILL = '''
def reorder_order_from(placed_on: str, card_last4: str) -> str:
    """Order again the products and quantities of the supervisor's order placed on
    `placed_on` (YYYY-MM-DD), to that order's address, paid with the card ending in
    `card_last4`. Other cart contents are left alone.

    Returns the new order's total in dollars, as a string like "99.80".
    """
    import datetime

    __LOGIN__
    next_day = (datetime.date.fromisoformat(placed_on) + datetime.timedelta(days=1)).isoformat()
    orders = apis.shop.show_orders(access_token=shop_token, placed_after=placed_on, placed_before=next_day, page_limit=20)
    if len(orders) != 1:
        raise ValueError(f"expected one order placed on {placed_on}, found {len(orders)}")
    old = orders[0]
    for item in old["items"]:
        apis.shop.add_to_cart(access_token=shop_token, product_id=item["product_id"], quantity=item["quantity"])
    card = next(c for c in apis.shop.show_payment_cards(access_token=shop_token) if c["last4"] == card_last4)
    new = apis.shop.place_order(access_token=shop_token, address_id=old["address_id"], payment_card_id=card["id"],
                                product_ids=[i["product_id"] for i in old["items"]])
    return f"{new['total_cents'] // 100}.{new['total_cents'] % 100:02d}"
'''


def _build_reorder(data: Any, rng: random.Random) -> list[TaskSpec]:
    products = _products(data)
    month = NOW.date().isoformat()[:7]

    def make(person: Any) -> TaskSpec | None:
        orders = data.rows_of("shop", "orders", person.id)
        per_day = Counter(o["placed_at"][:10] for o in orders)
        cart = {c["product_id"] for c in data.rows_of("shop", "carts", person.id)}
        cards = [c for c in data.rows_of("shop", "payment_cards", person.id) if c["expiry"] >= month]
        candidates = [
            o for o in orders
            if o["status"] == "delivered" and per_day[o["placed_at"][:10]] == 1
            and all(products[i["product_id"]]["stock"] >= i["quantity"] for i in o["items"])
            and not cart & {i["product_id"] for i in o["items"]}
        ]
        if not candidates or not cards:
            return None
        old = rng.choice(candidates)
        card = rng.choice(cards)
        day = old["placed_at"][:10]
        items = [(i["product_id"], i["quantity"]) for i in old["items"]]
        return TaskSpec(
            instruction=f"Order again exactly what I ordered from the shop on {_month_name(dt.date.fromisoformat(day))} "
                        f"(same products and quantities, same delivery address), paying with my card ending in "
                        f"{card['last4']}. What's the new order's total in dollars?",
            supervisor=person.id,
            call=f"reorder_order_from(placed_on={day!r}, card_last4={card['last4']!r})",
            expect=(
                Expect("shop", "orders", "insert", match={
                    "user_id": person.id, "status": "processing", "address_id": old["address_id"],
                    "payment_card_id": card["id"], "items": _items_are(items),
                }, label="one order repeating the old one"),
                *_stock_updates(products, items),
            ),
            answer=_dollars(sum(products[p]["price_cents"] * q for p, q in items)),
        )

    return _pick(data, rng, make)


_WISH_NOTE_SKILL = '''
def note_wish_list(note_title: str) -> str:
    """Create a note titled `note_title` with one line per shop wish-list product,
    "<name> - $<price>".

    Returns the wish list's total price in dollars, as a string like "310.45".
    """
    __LOGIN__
    lines = []
    total_cents = 0
    page = 0
    while True:
        batch = apis.shop.show_wish_list(access_token=shop_token, page_index=page, page_limit=20)
        if not batch:
            break
        for product in batch:
            cents = product["price_cents"]
            lines.append(f"{product['name']} - ${cents // 100}.{cents % 100:02d}")
            total_cents += cents
        page += 1
    apis.notes.create_note(access_token=notes_token, title=note_title, content="\\n".join(lines))
    return f"{total_cents // 100}.{total_cents % 100:02d}"
'''


def _build_wish_note(data: Any, rng: random.Random) -> list[TaskSpec]:
    products = _products(data)
    titles = ("Wish list", "Things I want", "Gift ideas for me")

    def make(person: Any) -> TaskSpec | None:
        wishes = [products[w["product_id"]] for w in data.rows_of("shop", "wishlist", person.id)]
        if len(wishes) < 4:
            return None
        title = rng.choice(titles)
        return TaskSpec(
            instruction=f"Copy my shop wish list into a new note titled \"{title}\", one line per product with its name "
                        "and price. What does everything on it cost together, in dollars?",
            supervisor=person.id,
            call=f"note_wish_list(note_title={title!r})",
            expect=(
                Expect("notes", "notes", "insert", match={
                    "owner_id": person.id, "title": title,
                    "content": lines_match([Line((p["name"],), (p["price_cents"],)) for p in wishes]),
                }, label="a note with one line per wish-list product: its name and price"),
            ),
            answer=_dollars(sum(p["price_cents"] for p in wishes)),
        )

    return _pick(data, rng, make)


_RETURN_CATEGORY_SKILL = '''
def return_category_since(category: str, since_date: str, reason: str) -> str:
    """Request a return, with `reason`, of every `category` item delivered to the
    supervisor on or after `since_date` (YYYY-MM-DD); quantities already returned are
    skipped.

    Returns the total refund in dollars, as a string like "54.00".
    """
    __LOGIN__
    returned = {}
    page = 0
    while True:
        batch = apis.shop.show_returns(access_token=shop_token, page_index=page, page_limit=20)
        if not batch:
            break
        for r in batch:
            key = (r["order_id"], r["product_id"])
            returned[key] = returned.get(key, 0) + r["quantity"]
        page += 1
    orders = []
    page = 0
    while True:
        batch = apis.shop.show_orders(access_token=shop_token, status="delivered", delivered_after=since_date,
                                      page_index=page, page_limit=20)
        if not batch:
            break
        orders.extend(batch)
        page += 1
    refund_cents = 0
    for order in orders:
        for item in order["items"]:
            if item["category"].lower() != category.lower():
                continue
            remaining = item["quantity"] - returned.get((order["id"], item["product_id"]), 0)
            if remaining > 0:
                refund_cents += apis.shop.request_return(access_token=shop_token, order_id=order["id"],
                                                         product_id=item["product_id"], quantity=remaining,
                                                         reason=reason)["refund_cents"]
    return f"{refund_cents // 100}.{refund_cents % 100:02d}"
'''


def _build_return_category(data: Any, rng: random.Random) -> list[TaskSpec]:
    dates = ("2026-04-22", "2026-04-28", "2026-05-04")
    reasons = ("changed my mind", "arrived damaged", "not as described")

    def make(person: Any) -> TaskSpec | None:
        since = rng.choice(dates)
        recent = [i for o in data.rows_of("shop", "orders", person.id)
                  if o["status"] == "delivered" and o["delivered_at"] >= since for i in o["items"]]
        if not recent:
            return None
        category = rng.choice(sorted({i["category"] for i in recent}))
        reason = rng.choice(reasons)
        expect, refund = _return_specs(data, person, since, lambda i: i["category"] == category, reason)
        if not expect:
            return None
        return TaskSpec(
            instruction=f"Send back every {category} item the shop delivered to me since "
                        f"{_month_name(dt.date.fromisoformat(since))}, giving the reason \"{reason}\". "
                        "How much will I get refunded, in dollars?",
            supervisor=person.id,
            call=f"return_category_since(category={category!r}, since_date={since!r}, reason={reason!r})",
            expect=expect,
            answer=_dollars(refund),
        )

    return _pick(data, rng, make)


# =======================================================================================
# music (dev and test_challenge)
# =======================================================================================

_LIKE_LONG_SKILL = '''
def like_long_songs_in_playlist(playlist_title: str, min_minutes: int) -> int:
    """Like every song longer than `min_minutes` minutes in the supervisor's playlist
    titled `playlist_title` that is not liked yet.

    Returns how many songs were newly liked.
    """
    __LOGIN__
    playlist = None
    page = 0
    while playlist is None:
        batch = apis.music.show_playlists(access_token=music_token, query=playlist_title, page_index=page, page_limit=20)
        if not batch:
            break
        playlist = next((p for p in batch if p["title"].lower() == playlist_title.lower()), None)
        page += 1
    if playlist is None:
        raise ValueError(f"no playlist titled {playlist_title!r}")
    liked = set()
    page = 0
    while True:
        batch = apis.music.show_liked_songs(access_token=music_token, page_index=page, page_limit=20)
        if not batch:
            break
        liked.update(s["id"] for s in batch)
        page += 1
    newly_liked = 0
    page = 0
    while True:
        batch = apis.music.show_playlist_songs(access_token=music_token, playlist_id=playlist["id"],
                                               page_index=page, page_limit=20)
        if not batch:
            break
        for song in batch:
            if song["duration_seconds"] > min_minutes * 60 and song["id"] not in liked:
                apis.music.like_song(access_token=music_token, song_id=song["id"])
                liked.add(song["id"])
                newly_liked += 1
        page += 1
    return newly_liked
'''


def _songs(data: Any) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in data.rows("music", "songs")}


def _build_like_long(data: Any, rng: random.Random) -> list[TaskSpec]:
    songs = _songs(data)

    def make(person: Any) -> TaskSpec | None:
        liked = {r["song_id"] for r in data.rows_of("music", "liked_songs", person.id)}
        playlist = rng.choice(data.rows_of("music", "playlists", person.id))
        minutes = rng.choice((3, 4, 5))
        hits = [s for s in playlist["song_ids"] if songs[s]["duration_seconds"] > minutes * 60 and s not in liked]
        if not hits or len(playlist["song_ids"]) <= 5:
            return None
        return TaskSpec(
            instruction=f"Like every song in my \"{playlist['title']}\" playlist that's longer than {minutes} minutes "
                        "(if I haven't liked it already). How many songs did you like?",
            supervisor=person.id,
            call=f"like_long_songs_in_playlist(playlist_title={playlist['title']!r}, min_minutes={minutes})",
            expect=tuple(Expect("music", "liked_songs", "insert", match={"user_id": person.id, "song_id": s}) for s in hits),
            answer=len(hits),
        )

    return _pick(data, rng, make)


_TOP_SONGS_NOTE_SKILL = '''
def note_top_playlist_songs(playlist_title: str, count: int, note_title: str) -> list:
    """Write the `count` most-played songs of the supervisor's playlist `playlist_title`
    into a new note titled `note_title`, one "<title> - <artist>" line each, most played
    first.

    Returns the song titles in that order.
    """
    __LOGIN__
    playlist = None
    page = 0
    while playlist is None:
        batch = apis.music.show_playlists(access_token=music_token, query=playlist_title, page_index=page, page_limit=20)
        if not batch:
            break
        playlist = next((p for p in batch if p["title"].lower() == playlist_title.lower()), None)
        page += 1
    if playlist is None:
        raise ValueError(f"no playlist titled {playlist_title!r}")
    songs = []
    page = 0
    while True:
        batch = apis.music.show_playlist_songs(access_token=music_token, playlist_id=playlist["id"],
                                               page_index=page, page_limit=20)
        if not batch:
            break
        songs.extend(batch)
        page += 1
    top = sorted(songs, key=lambda s: -s["play_count"])[:count]
    content = "\\n".join(f"{s['title']} - {s['artist_name']}" for s in top)
    apis.notes.create_note(access_token=notes_token, title=note_title, content=content)
    return [s["title"] for s in top]
'''


def _build_top_songs_note(data: Any, rng: random.Random) -> list[TaskSpec]:
    songs = _songs(data)

    def make(person: Any) -> TaskSpec | None:
        playlist = rng.choice(data.rows_of("music", "playlists", person.id))
        count = rng.choice((3, 5))
        ranked = sorted((songs[s] for s in playlist["song_ids"]), key=lambda s: -s["play_count"])
        if len(ranked) <= count or ranked[count - 1]["play_count"] == ranked[count]["play_count"]:
            return None
        top = ranked[:count]
        note_title = f"Top {count} of {playlist['title']}"
        want = _lines("\n".join(f"{s['title']} - {s['artist_name']}" for s in top))
        return TaskSpec(
            instruction=f"Make a note titled \"{note_title}\" with the {count} most-played songs of my "
                        f"\"{playlist['title']}\" playlist, most played first, one per line as \"<song title> - <artist>\". "
                        "Also tell me their titles in that order.",
            supervisor=person.id,
            call=f"note_top_playlist_songs(playlist_title={playlist['title']!r}, count={count}, note_title={note_title!r})",
            expect=(
                Expect("notes", "notes", "insert", match={
                    "owner_id": person.id, "title": note_title,
                    "content": lambda c, want=want: isinstance(c, str) and _lines(c) == want,
                }, label="a note with the top songs, most played first"),
            ),
            answer=[s["title"] for s in top],
            answer_order_matters=True,
        )

    return _pick(data, rng, make)


_GENRE_PLAYLIST_SKILL = '''
def playlist_from_liked_genre(genre: str, title: str, public: bool = False) -> int:
    """Create a playlist titled `title` (public or private) holding every song of `genre`
    that the supervisor has liked.

    Returns how many songs the playlist holds.
    """
    __LOGIN__
    song_ids = []
    page = 0
    while True:
        batch = apis.music.show_liked_songs(access_token=music_token, genre=genre, page_index=page, page_limit=20)
        if not batch:
            break
        song_ids.extend(s["id"] for s in batch)
        page += 1
    apis.music.create_playlist(access_token=music_token, title=title, is_public=public, song_ids=song_ids)
    return len(song_ids)
'''


def _build_genre_playlist(data: Any, rng: random.Random) -> list[TaskSpec]:
    songs = _songs(data)

    def make(person: Any) -> TaskSpec | None:
        liked = [r["song_id"] for r in data.rows_of("music", "liked_songs", person.id)]
        by_genre = Counter(songs[s]["genre"] for s in liked)
        genres = sorted(g for g, n in by_genre.items() if n >= 2)
        if not genres:
            return None
        genre = rng.choice(genres)
        public = rng.random() < 0.5
        title = rng.choice(("Best of", "All my", "Liked")) + f" {genre}"
        taken = {p["title"].lower() for p in data.rows_of("music", "playlists", person.id)}
        if title.lower() in taken:
            return None
        hits = [s for s in liked if songs[s]["genre"] == genre]
        return TaskSpec(
            instruction=f"Create a {'public' if public else 'private'} playlist called \"{title}\" with all the {genre} "
                        "songs I've liked. How many songs does it have?",
            supervisor=person.id,
            call=f"playlist_from_liked_genre(genre={genre!r}, title={title!r}, public={public})",
            expect=(Expect("music", "playlists", "insert", match={
                "owner_id": person.id, "title": title, "is_public": public, "song_ids": hits}),),
            answer=len(hits),
        )

    return _pick(data, rng, make)


_FOLLOW_FREQUENT_SKILL = '''
def follow_frequent_artists(since_date: str, min_plays: int) -> list:
    """Follow every artist whose songs the supervisor played at least `min_plays` times
    since `since_date` (YYYY-MM-DD) and whom they do not follow yet.

    Returns the names of the newly followed artists.
    """
    __LOGIN__
    plays = {}
    names = {}
    page = 0
    while True:
        batch = apis.music.show_play_history(access_token=music_token, since=since_date, page_index=page, page_limit=20)
        if not batch:
            break
        for play in batch:
            plays[play["artist_id"]] = plays.get(play["artist_id"], 0) + 1
            names[play["artist_id"]] = play["artist_name"]
        page += 1
    followed = set()
    page = 0
    while True:
        batch = apis.music.show_followed_artists(access_token=music_token, page_index=page, page_limit=20)
        if not batch:
            break
        followed.update(a["id"] for a in batch)
        page += 1
    newly_followed = []
    for artist_id, n in plays.items():
        if n >= min_plays and artist_id not in followed:
            apis.music.follow_artist(access_token=music_token, artist_id=artist_id)
            newly_followed.append(names[artist_id])
    return newly_followed
'''


def _build_follow_frequent(data: Any, rng: random.Random) -> list[TaskSpec]:
    songs = _songs(data)
    artists = {a["id"]: a for a in data.rows("music", "artists")}

    def make(person: Any) -> TaskSpec | None:
        since = rng.choice(("2026-04-15", "2026-04-25", "2026-05-01"))
        min_plays = rng.choice((2, 3))
        plays = Counter(songs[h["song_id"]]["artist_id"] for h in data.rows_of("music", "history", person.id)
                        if h["played_at"] >= since)
        followed = {r["artist_id"] for r in data.rows_of("music", "followed_artists", person.id)}
        hits = sorted(a for a, n in plays.items() if n >= min_plays and a not in followed)
        skipped = [a for a, n in plays.items() if n < min_plays or a in followed]
        if not hits or not skipped:
            return None
        return TaskSpec(
            instruction=f"Follow every artist I've played at least {min_plays} times since "
                        f"{_month_name(dt.date.fromisoformat(since))} that I don't follow yet, and tell me who they are.",
            supervisor=person.id,
            call=f"follow_frequent_artists(since_date={since!r}, min_plays={min_plays})",
            expect=tuple(Expect("music", "followed_artists", "insert", match={"user_id": person.id, "artist_id": a})
                         for a in hits),
            answer=[artists[a]["name"] for a in hits],
        )

    return _pick(data, rng, make)


# =======================================================================================


def _scenario(id: str, apps: tuple[str, ...], difficulty: int, split: str, name: str, source: str,
              build: Callable[[Any, random.Random], list[TaskSpec]], explore: tuple[tuple[str, str], ...],
              description: str) -> ScenarioDef:
    return ScenarioDef(
        id=id, apps=apps, difficulty=difficulty, split=split, skill_name=name,
        skill_source=_skill(source, *apps), build=build, explore_block=_explore(*explore), description=description,
    )


SCENARIOS: list[ScenarioDef] = [
    # -- train (shop, shop + notes) --
    _scenario("shop_cancel_unshipped_brand", ("shop",), 1, "train", "cancel_unshipped_orders_with_brand",
              _CANCEL_BRAND_SKILL, _build_cancel_brand,
              (("shop", "show_orders"), ("shop", "cancel_order")),
              "Page through processing orders, look up each product's brand, cancel the matching orders."),
    _scenario("shop_wishlist_to_cart", ("shop",), 2, "train", "move_affordable_wishes_to_cart",
              _WISH_TO_CART_SKILL, _build_wish_to_cart,
              (("shop", "show_wish_list"), ("shop", "add_to_cart")),
              "Page through the wish list and move the affordable in-stock items to the cart."),
    _scenario("shop_review_unreviewed", ("shop",), 2, "train", "review_unreviewed_purchases",
              _REVIEW_UNREVIEWED_SKILL, _build_review_unreviewed,
              (("shop", "show_orders"), ("shop", "show_my_reviews"), ("shop", "write_review")),
              "Join delivered orders with existing reviews across pages; review what is missing."),
    _scenario("shop_order_book_list", ("notes", "shop"), 2, "train", "order_books_from_note",
              _BOOK_LIST_SKILL, _build_book_list,
              (("notes", "show_notes"), ("shop", "search_products"), ("shop", "place_order")),
              "Read a note, find each book in the shop, and order them to a saved address and card."),
    _scenario("shop_category_spending", ("shop",), 1, "train", "spending_on_category",
              _SPENDING_SKILL, _build_spending,
              (("shop", "show_orders"),),
              "Sum line totals of one category over a month of orders, exactly in cents."),
    _scenario("shop_return_low_rated", ("shop",), 3, "train", "return_poorly_rated_since",
              _RETURN_LOW_RATED_SKILL, _build_return_low_rated,
              (("shop", "show_my_reviews"), ("shop", "show_returns"), ("shop", "show_orders"), ("shop", "request_return")),
              "Join reviews, earlier returns and recent deliveries across pages; return what qualifies."),
    _scenario("shop_open_orders_note", ("notes", "shop"), 2, "train", "note_open_orders",
              _OPEN_ORDERS_NOTE_SKILL, _build_open_orders_note,
              (("shop", "show_orders"), ("notes", "create_note")),
              "Collect undelivered orders across pages and write them into a note."),
    _scenario("shop_rerate_brand_reviews", ("shop",), 1, "train", "rerate_brand_reviews",
              _RERATE_BRAND_SKILL, _build_rerate_brand,
              (("shop", "show_my_reviews"), ("shop", "update_review")),
              "Page through your reviews and change the rating of one brand's products."),
    # -- dev --
    _scenario("shop_cheapest_to_cart", ("shop",), 1, "dev", "add_cheapest_well_rated",
              _CHEAPEST_SKILL, _build_cheapest,
              (("shop", "search_products"), ("shop", "add_to_cart")),
              "Search with filters sorted by price and add the first product with enough stock."),
    _scenario("music_like_long_playlist_songs", ("music",), 2, "dev", "like_long_songs_in_playlist",
              _LIKE_LONG_SKILL, _build_like_long,
              (("music", "show_playlists"), ("music", "show_playlist_songs"), ("music", "like_song")),
              "Find a playlist by title, page through its songs and like the long ones not yet liked."),
    _scenario("music_top_songs_note", ("music", "notes"), 2, "dev", "note_top_playlist_songs",
              _TOP_SONGS_NOTE_SKILL, _build_top_songs_note,
              (("music", "show_playlist_songs"), ("notes", "create_note")),
              "Rank a playlist's songs by plays and write the top ones into a note."),
    # -- test_normal (shop, seen in training) --
    _scenario("shop_reorder_order", ("shop",), 2, "test_normal", "reorder_order_from",
              _REORDER_SKILL, _build_reorder,
              (("shop", "show_orders"), ("shop", "add_to_cart"), ("shop", "place_order")),
              "Find an order by its date, put its items back in the cart and order them again."),
    _scenario("shop_wishlist_note", ("notes", "shop"), 2, "test_normal", "note_wish_list",
              _WISH_NOTE_SKILL, _build_wish_note,
              (("shop", "show_wish_list"), ("notes", "create_note")),
              "Page through the wish list, write it into a note and total the prices."),
    _scenario("shop_return_category", ("shop",), 2, "test_normal", "return_category_since",
              _RETURN_CATEGORY_SKILL, _build_return_category,
              (("shop", "show_returns"), ("shop", "show_orders"), ("shop", "request_return")),
              "Return one category's recent deliveries, skipping what was already returned."),
    # -- test_challenge (music: no train scenario touches it) --
    _scenario("music_genre_playlist", ("music",), 2, "test_challenge", "playlist_from_liked_genre",
              _GENRE_PLAYLIST_SKILL, _build_genre_playlist,
              (("music", "show_liked_songs"), ("music", "create_playlist")),
              "Page through liked songs of a genre and make a playlist of them."),
    _scenario("music_follow_frequent_artists", ("music",), 3, "test_challenge", "follow_frequent_artists",
              _FOLLOW_FREQUENT_SKILL, _build_follow_frequent,
              (("music", "show_play_history"), ("music", "show_followed_artists"), ("music", "follow_artist")),
              "Count plays per artist over a time range across pages and follow the frequent ones."),
]
