"""The music and shop apps and their scenarios (media_commerce)."""

from __future__ import annotations

import datetime as dt

import pytest

from _world_util import run_code, run_expert
from skillbank.worlds.apps import AppsWorld
from skillbank.worlds.engine.api import NOW
from skillbank.worlds.apps.scenarios import media_commerce
from skillbank.worlds.base import ApiError

SCENARIO_IDS = [s.id for s in media_commerce.SCENARIOS]


@pytest.fixture(scope="module")
def world() -> AppsWorld:
    return AppsWorld(0)


def _task_ids() -> tuple[list[str], list[str]]:
    w = AppsWorld(0)
    ids = [t.id for t in w.tasks() if t.scenario_id in SCENARIO_IDS]
    return ids, [t for t in ids if w.built(t).spec.expect]


TASK_IDS, TASKS_WITH_CHANGES = _task_ids()


def _login(env, app: str) -> str:
    person = env.world.people_by_id[env.supervisor_id]
    pw = env.world.population.passwords[(app, env.supervisor_id)]
    return env.call(app, "login", username=person["email"], password=pw)["access_token"]


def _spec(world, task_id):
    return world.built(task_id).spec


def _skill_call_block(world, task_id: str, answer_expr: str | None = None, extra: str = "") -> str:
    """The expert's skills and call, with an optional extra step and a replaced answer."""
    sol = world.expert_solution(task_id)
    spec = _spec(world, task_id)
    code = "\n".join(sol.skill_sources) + f"\nresult = {spec.call}\n" + extra
    answer = answer_expr if answer_expr is not None else "result"
    return code + f"\napis.supervisor.complete_task(answer={answer})\n"


# -- scenario catalogue -----------------------------------------------------------------


def test_scenario_quotas_and_shape(world):
    splits = [s.split for s in media_commerce.SCENARIOS]
    assert len(media_commerce.SCENARIOS) >= 16
    assert splits.count("train") == 8 and splits.count("dev") == 3
    assert splits.count("test_normal") == 3 and splits.count("test_challenge") == 2
    assert sum(len(s.apps) >= 2 for s in media_commerce.SCENARIOS) >= 4
    paginating = [s for s in media_commerce.SCENARIOS if "page += 1" in s.skill_source and "page_limit=20" in s.skill_source]
    assert len(paginating) >= 8
    for s in media_commerce.SCENARIOS:
        tasks = [t for t in world.tasks() if t.scenario_id == s.id]
        assert len(tasks) >= 3, s.id
        assert len({t.supervisor["email"] for t in tasks}) == len(tasks), s.id
        assert f"def {s.skill_name}(" in s.skill_source and '"""' in s.skill_source
        assert "show_account_passwords" in s.skill_source


def test_test_challenge_apps_are_unseen_in_train(world):
    train_apps = {a for s in world.scenarios.values() if s.split == "train" for a in s.apps}
    for s in media_commerce.SCENARIOS:
        if s.split == "test_challenge":
            assert not set(s.apps) & train_apps, s.id


# -- every task: expert passes, nothing fails, wrong solutions fail the right test ------


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_expert_passes(world, task_id):
    env, grade = run_expert(world, task_id, with_explore=False)
    assert grade.success, [t for t in grade.tests if not t.passed]


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_doing_nothing_fails(world, task_id):
    env, _ = run_code(world, task_id, "apis.supervisor.complete_task()")
    grade = env.evaluate()
    assert not grade.success
    assert world.start(task_id).evaluate().success is False


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_wrong_answer_fails_only_the_answer(world, task_id):
    env, _ = run_code(world, task_id, _skill_call_block(world, task_id, answer_expr="'not the answer'"))
    failed = [t.name for t in env.evaluate().tests if not t.passed]
    assert failed == ["answer"]


_EXTRA_CHANGE = {
    "music": (
        "_t = apis.music.login(username=apis.supervisor.show_profile()['email'], password={p}['music'])['access_token']\n"
        "_liked = set()\n_pg = 0\n"
        "while True:\n"
        "    _b = apis.music.show_liked_songs(access_token=_t, page_index=_pg, page_limit=20)\n"
        "    if not _b: break\n"
        "    _liked.update(s['id'] for s in _b); _pg += 1\n"
        "_song = next(s for s in apis.music.search_songs(access_token=_t, page_limit=20) if s['id'] not in _liked)\n"
        "apis.music.like_song(access_token=_t, song_id=_song['id'])\n"
    ),
    "shop": (
        "_t = apis.shop.login(username=apis.supervisor.show_profile()['email'], password={p}['shop'])['access_token']\n"
        "_wished = set()\n_pg = 0\n"
        "while True:\n"
        "    _b = apis.shop.show_wish_list(access_token=_t, page_index=_pg, page_limit=20)\n"
        "    if not _b: break\n"
        "    _wished.update(w['id'] for w in _b); _pg += 1\n"
        "_prod = next(p for p in apis.shop.search_products(access_token=_t, page_limit=20) if p['id'] not in _wished)\n"
        "apis.shop.add_to_wish_list(access_token=_t, product_id=_prod['id'])\n"
    ),
}
_PASSWORDS = "{a['account_name']: a['password'] for a in apis.supervisor.show_account_passwords()}"


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_one_extra_change_is_collateral_damage(world, task_id):
    app = "music" if "music" in world.task(task_id).apps else "shop"
    extra = _EXTRA_CHANGE[app].replace("{p}", _PASSWORDS)
    env, _ = run_code(world, task_id, _skill_call_block(world, task_id, extra=extra))
    failed = [t.name for t in env.evaluate().tests if not t.passed]
    assert failed == ["no collateral damage"]


@pytest.mark.parametrize("task_id", TASKS_WITH_CHANGES)
def test_a_missed_change_fails_the_request(world, task_id):
    spec = _spec(world, task_id)
    code = "\n".join(world.expert_solution(task_id).skill_sources) + f"\nresult = {spec.call}\n"
    env, ns = run_code(world, task_id, code)
    victim = next(c for c in env.state.diff() if spec.expect[0].accepts(c))
    table = env.state.table(victim.app, victim.table)
    if victim.kind == "insert":
        table.delete(victim.id)
        # as if the agent had never made the call: drop its ledger entry too
        env.state.outbound[:] = [e for e in env.state.outbound if (victim.app, victim.table, victim.id) not in e.keys]
    else:
        table.changes.pop(victim.id)  # undo the update as if the agent had skipped it
    env.call("supervisor", "complete_task", answer=ns["result"])
    failed = [t for t in env.evaluate().tests if not t.passed]
    assert failed and all(t.name.startswith("requested") for t in failed)


# -- API contract: auth, required parameters, unknown ids, pagination -------------------


def _sample_args(world, env, app: str) -> dict[str, object]:
    """Valid values for every required parameter of the app's APIs, for the supervisor."""
    uid = env.supervisor_id
    base = world.data
    if app == "music":
        playlist = base.rows_of("music", "playlists", uid)[0]
        song = next(s for s in base.rows("music", "songs") if s["id"] not in playlist["song_ids"])
        album = base.rows("music", "albums")[0]
        return {"song_id": song["id"], "album_id": album["id"], "artist_id": album["artist_id"],
                "playlist_id": playlist["id"], "title": "A fresh title", "is_public": True, "position": 1}
    orders = base.rows_of("shop", "orders", uid)
    delivered = next(o for o in orders if o["status"] == "delivered")
    review = base.rows_of("shop", "reviews", uid)[0]
    return {"product_id": delivered["items"][0]["product_id"], "review_id": review["id"], "rating": 3, "title": "Fine",
            "quantity": 1, "address_id": base.rows_of("shop", "addresses", uid)[0]["id"],
            "payment_card_id": base.rows_of("shop", "payment_cards", uid)[0]["id"], "order_id": delivered["id"]}


def _contract_env(world):
    task_id = next(t.id for t in world.tasks() if t.scenario_id == "shop_order_book_list")
    return world.start(task_id)


@pytest.mark.parametrize("app", ["music", "shop"])
def test_apps_are_big_enough_and_documented(world, app):
    apis = world.apps[app].apis
    assert len(apis) >= 17 and "login" in apis
    for spec in apis.values():
        doc = spec.doc()
        assert doc["description"] and doc["response"] is not None and doc["errors"], spec.name
        assert all(p["description"] for p in doc["parameters"]), spec.name


@pytest.mark.parametrize("app", ["music", "shop"])
def test_every_api_rejects_bad_token_missing_parameter_and_unknown_id(world, app):
    env = _contract_env(world)
    sample = _sample_args(world, env, app)
    token = _login(env, app)
    checked_ids = 0
    for name, spec in world.apps[app].apis.items():
        if not spec.auth:
            continue
        required = {p.name: sample[p.name] for p in spec.params if p.required and p.name != "access_token"}
        with pytest.raises(ApiError, match="unauthorised"):
            env.call(app, name, access_token="not-a-token", **required)
        for missing in required:
            kwargs = {k: v for k, v in required.items() if k != missing}
            with pytest.raises(ApiError, match=f"'{missing}'"):
                env.call(app, name, access_token=token, **kwargs)
        for key in required:
            if key.endswith("_id"):
                with pytest.raises(ApiError, match="not found"):
                    env.call(app, name, access_token=token, **(required | {key: f"{key[:-3]}_nope"}))
                checked_ids += 1
    assert checked_ids >= 15


@pytest.mark.parametrize("app", ["music", "shop"])
def test_pagination_limits(world, app):
    env = _contract_env(world)
    sample = _sample_args(world, env, app)
    token = _login(env, app)
    paginated = [s for s in world.apps[app].apis.values() if s.paginated]
    assert len(paginated) >= 6
    for spec in paginated:
        required = {p.name: sample[p.name] for p in spec.params if p.required and p.name != "access_token"}
        rows = env.call(app, spec.name, access_token=token, page_limit=3, **required)
        assert len(rows) <= 3
        with pytest.raises(ApiError, match="page_limit"):
            env.call(app, spec.name, access_token=token, page_limit=21, **required)


def test_paging_covers_each_row_once(world):
    env = _contract_env(world)
    token = _login(env, "music")
    seen, page = [], 0
    while batch := env.call("music", "show_liked_songs", access_token=token, page_index=page, page_limit=7):
        seen += [s["id"] for s in batch]
        page += 1
    liked = [r["song_id"] for r in world.data.rows_of("music", "liked_songs", env.supervisor_id)]
    assert sorted(seen) == sorted(liked) and len(set(seen)) == len(seen)


# -- behaviour --------------------------------------------------------------------------


def test_shop_money_is_exact_integer_cents(world):
    env = _contract_env(world)
    token = _login(env, "shop")
    for p in env.call("shop", "search_products", access_token=token, page_limit=20):
        assert type(p["price_cents"]) is int
    uid = env.supervisor_id
    for o in world.data.rows_of("shop", "orders", uid):
        assert type(o["total_cents"]) is int and o["total_cents"] == sum(i["line_total_cents"] for i in o["items"])
        assert all(i["line_total_cents"] == i["quantity"] * i["unit_price_cents"] for i in o["items"])
    products = [p for p in world.data.rows("shop", "products") if p["stock"] >= 3][:2]
    for p in products:
        env.call("shop", "add_to_cart", access_token=token, product_id=p["id"], quantity=3)
    card = next(c for c in world.data.rows_of("shop", "payment_cards", uid) if c["expiry"] >= NOW.date().isoformat()[:7])
    address = world.data.rows_of("shop", "addresses", uid)[0]
    out = env.call("shop", "place_order", access_token=token, address_id=address["id"], payment_card_id=card["id"],
                   product_ids=[p["id"] for p in products])
    assert out["total_cents"] == 3 * sum(p["price_cents"] for p in products) and type(out["total_cents"]) is int
    assert env.call("shop", "show_product", access_token=token, product_id=products[0]["id"])["stock"] == products[0]["stock"] - 3


def test_shop_order_rules(world):
    env = _contract_env(world)
    token = _login(env, "shop")
    uid = env.supervisor_id
    orders = world.data.rows_of("shop", "orders", uid)
    shipped = [o for o in orders if o["status"] in ("shipped", "delivered")]
    with pytest.raises(ApiError, match="only processing"):
        env.call("shop", "cancel_order", access_token=token, order_id=shipped[0]["id"])
    cutoff = (NOW - dt.timedelta(days=30)).isoformat()
    old = next(o for o in orders if o["status"] == "delivered" and o["delivered_at"] < cutoff)
    with pytest.raises(ApiError, match="30 days"):
        env.call("shop", "request_return", access_token=token, order_id=old["id"], product_id=old["items"][0]["product_id"])
    not_delivered = next(o for o in orders if o["status"] != "delivered")
    with pytest.raises(ApiError, match="only delivered"):
        env.call("shop", "request_return", access_token=token, order_id=not_delivered["id"],
                 product_id=not_delivered["items"][0]["product_id"])
    received = {i["product_id"] for o in orders if o["status"] == "delivered" for i in o["items"]}
    stranger = next(p for p in world.data.rows("shop", "products") if p["id"] not in received)
    with pytest.raises(ApiError, match="forbidden"):
        env.call("shop", "write_review", access_token=token, product_id=stranger["id"], rating=5, title="x")
    other = next(p for p in world.people_by_id if p != uid)
    foreign = world.data.rows_of("shop", "orders", other)[0]
    with pytest.raises(ApiError, match="not found"):
        env.call("shop", "show_order", access_token=token, order_id=foreign["id"])


def test_shop_expired_card_and_empty_cart_are_refused(world):
    for person in world.population.people:
        cards = world.data.rows_of("shop", "payment_cards", person.id)
        expired = [c for c in cards if c["expiry"] < NOW.date().isoformat()[:7]]
        if expired:
            break
    else:
        pytest.fail("the seed has no expired card")
    task_id = next(t.id for t in world.tasks())
    env = world.start(task_id)
    env.supervisor_id = person.id
    token = _login(env, "shop")
    address = world.data.rows_of("shop", "addresses", person.id)[0]
    with pytest.raises(ApiError, match="expired"):
        env.call("shop", "place_order", access_token=token, address_id=address["id"], payment_card_id=expired[0]["id"])
    env.call("shop", "clear_cart", access_token=token)
    good = next(c for c in cards if c not in expired)
    with pytest.raises(ApiError, match="empty"):
        env.call("shop", "place_order", access_token=token, address_id=address["id"], payment_card_id=good["id"])


def test_music_playlist_editing(world):
    env = _contract_env(world)
    token = _login(env, "music")
    songs = [s["id"] for s in env.call("music", "search_songs", access_token=token, genre="jazz", page_limit=4)]
    pid = env.call("music", "create_playlist", access_token=token, title="Late night", song_ids=songs)["playlist_id"]
    with pytest.raises(ApiError, match="already have a playlist"):
        env.call("music", "create_playlist", access_token=token, title="late night")
    assert env.call("music", "move_song_in_playlist", access_token=token, playlist_id=pid, song_id=songs[3], position=1)[
        "song_ids"] == [songs[3], *songs[:3]]
    env.call("music", "remove_song_from_playlist", access_token=token, playlist_id=pid, song_id=songs[0])
    with pytest.raises(ApiError, match="already in playlist"):
        env.call("music", "add_song_to_playlist", access_token=token, playlist_id=pid, song_id=songs[1])
    env.call("music", "rename_playlist", access_token=token, playlist_id=pid, title="Late late night")
    shown = env.call("music", "show_playlist", access_token=token, playlist_id=pid)
    assert shown["title"] == "Late late night" and shown["song_ids"] == [songs[3], songs[1], songs[2]]
    assert shown["is_public"] is False
    positions = [s["position"] for s in env.call("music", "show_playlist_songs", access_token=token, playlist_id=pid)]
    assert positions == [1, 2, 3]
    env.call("music", "delete_playlist", access_token=token, playlist_id=pid)
    with pytest.raises(ApiError, match="not found"):
        env.call("music", "show_playlist", access_token=token, playlist_id=pid)
    assert not [c for c in env.state.diff() if c.table == "playlists"]


def test_music_search_filters_and_sorting(world):
    env = _contract_env(world)
    token = _login(env, "music")
    rows = env.call("music", "search_songs", access_token=token, genre="rock", min_duration_seconds=240,
                    sort_by="-duration_seconds", page_limit=20)
    assert rows and all(r["genre"] == "rock" and r["duration_seconds"] >= 240 for r in rows)
    assert [r["duration_seconds"] for r in rows] == sorted((r["duration_seconds"] for r in rows), reverse=True)
    with pytest.raises(ApiError, match="sort_by"):
        env.call("music", "search_songs", access_token=token, sort_by="colour")
    with pytest.raises(ApiError, match="released_after"):
        env.call("music", "search_songs", access_token=token, released_after="last tuesday")
    liked = {r["song_id"] for r in world.data.rows_of("music", "liked_songs", env.supervisor_id)}
    recs = env.call("music", "show_recommendations", access_token=token, page_limit=20)
    assert recs and not {r["id"] for r in recs} & liked


def test_music_search_pages_match_a_full_sort(world):
    env = _contract_env(world)
    token = _login(env, "music")
    got, page = [], 0
    while batch := env.call("music", "search_songs", access_token=token, sort_by="-play_count", page_index=page, page_limit=20):
        got += [s["id"] for s in batch]
        page += 1
    songs = world.data.rows("music", "songs")
    assert got == [s["id"] for s in sorted(songs, key=lambda s: s["play_count"], reverse=True)]
    first = env.call("music", "search_songs", access_token=token, sort_by="title", page_index=2, page_limit=5)
    assert [s["title"] for s in first] == sorted(s["title"] for s in songs)[10:15]
    assert all(not any(k.startswith("_") for k in s) for s in first)
