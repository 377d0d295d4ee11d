"""The cross-app scenarios (money apps with phone and mail, mail with todo, music with
phone): experts pass, doing nothing fails, and extra, wrong or missing work fails the
right test."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import pytest
from _world_util import InProcessApis, run_code, run_expert

from skillbank.worlds.apps import AppsWorld
from skillbank.worlds.apps.scenario import NO_ANSWER
from skillbank.worlds.apps.scenarios.cross_app import SCENARIOS


@pytest.fixture(scope="module")
def world() -> AppsWorld:
    return AppsWorld(0)


_WORLD = AppsWorld(0)
TASK_IDS = [t.id for t in _WORLD.tasks() if t.scenario_id in {s.id for s in SCENARIOS}]
#: The APIs through which these scenarios make their requested changes.
_WRITES = {("phone", "send_text_message"), ("mail", "send_email"), ("todo", "create_task"), ("music", "create_playlist")}


def _spec(world, task_id):
    return world.built(task_id).spec


def _quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def _failed(grade) -> set[str]:
    return {t.name for t in grade.tests if not t.passed}


def _skill_code(world, task_id: str) -> str:
    return "\n".join(world.expert_solution(task_id).skill_sources)


def _finish(spec) -> str:
    if spec.answer is NO_ANSWER:
        return "apis.supervisor.complete_task()\n"
    return "apis.supervisor.complete_task(answer=result)\n"


# ---------------------------------------------------------------------------------------
# scenario shape


def test_splits_apps_and_loops():
    placed = {sc.id: (sc.split, set(sc.apps)) for sc in SCENARIOS}
    assert len(placed) == 6
    splits = [split for split, _ in placed.values()]
    assert splits.count("train") == 2 and splits.count("dev") == 2
    assert splits.count("test_normal") == 1 and splits.count("test_challenge") == 1
    train_apps = [apps for split, apps in placed.values() if split == "train"]
    assert all("wallet" in apps and apps & {"phone", "mail"} for apps in train_apps)
    assert {"phone", "mail"} <= set().union(*train_apps)
    assert any(apps == {"mail", "todo"} for split, apps in placed.values() if split == "test_normal")
    assert any(apps == {"splitbill", "phone"} for split, apps in placed.values() if split == "dev")
    for split, apps in placed.values():
        if apps & {"splitbill", "calendar"}:
            assert split in ("dev", "test_challenge")
    assert sum(len(sc.apps) >= 2 for sc in SCENARIOS) == 5
    paginating = [sc for sc in SCENARIOS if "while True" in sc.skill_source and "page_limit=20" in sc.skill_source]
    assert len(paginating) >= 4


def test_music_stays_out_of_train_so_test_challenge_keeps_an_unseen_app(world):
    train_apps = {a for s in world.scenarios.values() if s.split == "train" for a in s.apps}
    assert "music" not in train_apps
    for sc in SCENARIOS:
        if sc.split == "test_challenge":
            assert set(sc.apps) - train_apps, sc.id


def test_every_scenario_has_three_distinct_tasks(world):
    for sc in SCENARIOS:
        tasks = [t for t in world.tasks() if t.scenario_id == sc.id]
        assert len(tasks) >= 3, sc.id
        assert len({t.supervisor["email"] for t in tasks}) == len(tasks), sc.id
        assert len({_spec(world, t.id).call for t in tasks}) >= 2, sc.id
        assert f"def {sc.skill_name}(" in sc.skill_source and '"""' in sc.skill_source
        assert "apis.supervisor.show_account_passwords()" in sc.skill_source
        assert sc.explore_block and "show_api_doc" in sc.explore_block


def test_tasks_are_deterministic():
    again = AppsWorld(0)
    for tid in TASK_IDS:
        assert again.task(tid) == _WORLD.task(tid)
        assert _spec(again, tid).call == _spec(_WORLD, tid).call


# ---------------------------------------------------------------------------------------
# every task: the expert passes, nothing fails, extra or wrong work fails


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_expert_passes(world, task_id):
    env, grade = _quiet(run_expert, world, task_id)
    assert grade.success, [t for t in grade.tests if not t.passed]
    assert env.completed


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_doing_nothing_fails(world, task_id):
    env, _ = run_code(world, task_id, "apis.supervisor.complete_task()")
    failed = _failed(env.evaluate())
    assert any(name.startswith("requested:") for name in failed)
    assert "no collateral damage" not in failed


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_extra_change_is_collateral_damage(world, task_id):
    spec = _spec(world, task_id)
    code = _skill_code(world, task_id) + f"\nresult = {spec.call}\n"
    code += (
        "profile = apis.supervisor.show_profile()\n"
        "pw = {a['account_name']: a['password'] for a in apis.supervisor.show_account_passwords()}\n"
        "tok = apis.notes.login(username=profile['email'], password=pw['notes'])['access_token']\n"
        "apis.notes.create_note(access_token=tok, title='stray')\n"
    )
    env, _ = _quiet(run_code, world, task_id, code + _finish(spec))
    assert _failed(env.evaluate()) == {"no collateral damage"}


@pytest.mark.parametrize("task_id", [t for t in TASK_IDS if _spec(_WORLD, t).answer is not NO_ANSWER])
def test_wrong_answer_fails(world, task_id):
    spec = _spec(world, task_id)
    wrong = "result + 1" if isinstance(spec.answer, int) else "result + ' and more'"
    code = _skill_code(world, task_id) + f"\nresult = {spec.call}\napis.supervisor.complete_task(answer={wrong})\n"
    env, _ = _quiet(run_code, world, task_id, code)
    assert _failed(env.evaluate()) == {"answer"}


class _DropFirstWrite:
    """A host for trusted test code that silently skips the first requested change."""

    def __init__(self, env: Any):
        self._env = env
        self.dropped: tuple[str, str] | None = None

    def call(self, app: str, api: str, **kwargs: Any) -> Any:
        if self.dropped is None and (app, api) in _WRITES:
            self.dropped = (app, api)
            return {}
        return self._env.call(app, api, **kwargs)


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_one_dropped_change_fails_a_requested_test(world, task_id):
    env = world.start(task_id)
    host = _DropFirstWrite(env)
    spec = _spec(world, task_id)
    code = _skill_code(world, task_id) + f"\nresult = {spec.call}\n" + _finish(spec)
    _quiet(exec, compile(code, "<test>", "exec"), {"apis": InProcessApis(host)})
    assert host.dropped is not None
    failed = _failed(env.evaluate())
    assert failed and all(name.startswith("requested:") for name in failed), failed


# ---------------------------------------------------------------------------------------
# plausible mistakes fail


def _run_variant(world, task_id: str, old: str, new: str):
    """Run the expert skill with one piece changed (a plausible mistake)."""
    src = _skill_code(world, task_id)
    assert old in src
    spec = _spec(world, task_id)
    code = src.replace(old, new, 1) + f"\nresult = {spec.call}\n" + _finish(spec)
    env, _ = _quiet(run_code, world, task_id, code)
    return env.evaluate()


def _tasks_of(scenario_id: str) -> list[str]:
    return [t for t in TASK_IDS if t.rsplit("-", 1)[0] == scenario_id]


def test_thanking_for_the_last_payment_instead_of_the_total_fails(world):
    grades = [_run_variant(world, t, 'totals.get(payment["sender_email"], 0) + payment["amount_cents"]',
                           'payment["amount_cents"]') for t in _tasks_of("wallet_text_thanks_to_payers")]
    assert any(not g.success for g in grades)
    for g in grades:
        assert "answer" not in _failed(g)


def test_reminding_people_who_are_not_friends_fails(world):
    for t in _tasks_of("wallet_email_friend_reminders"):
        grade = _run_variant(world, t, "if email in friends:", "if True:")
        assert "no collateral damage" in _failed(grade) and "answer" in _failed(grade)


def test_a_reminder_per_request_instead_of_per_friend_fails(world):
    # every task has a friend with two or more pending requests
    for t in _tasks_of("wallet_email_friend_reminders"):
        grade = _run_variant(world, t, "owed.get(email, 0) + request[\"amount_cents\"]", "request[\"amount_cents\"]")
        assert any(n.startswith("requested:") for n in _failed(grade))


def test_tasks_for_read_emails_too_fail(world):
    grades = [_run_variant(world, t, "unread=True, ", "") for t in _tasks_of("mail_attachments_to_todo")]
    assert any("no collateral damage" in _failed(g) for g in grades)


def test_marking_the_emails_read_fails(world):
    t = _tasks_of("mail_attachments_to_todo")[0]
    grade = _run_variant(world, t, "    return len(emails)",
                         "    for email in emails:\n"
                         "        apis.mail.mark_email_read(access_token=mail, email_id=email['id'])\n"
                         "    return len(emails)")
    assert _failed(grade) == {"no collateral damage"}


def test_texting_the_people_i_owe_instead_fails(world):
    for t in _tasks_of("splitbill_text_debtors"):
        grade = _run_variant(world, t, 'for debt in balances["owed_to_you"]:', 'for debt in balances["you_owe"]:')
        assert not grade.success and any(n.startswith("requested:") for n in _failed(grade))


def test_a_public_playlist_fails(world):
    for t in _tasks_of("music_top_artist_playlist"):
        grade = _run_variant(world, t, "is_public=False", "is_public=True")
        assert any(n.startswith("requested:") for n in _failed(grade)) and "answer" not in _failed(grade)


def test_only_the_first_page_of_the_catalogue_fails_when_the_artist_has_more(world):
    for t in _tasks_of("music_top_artist_playlist"):
        grade = _run_variant(world, t, 'song_ids.extend(s["id"] for s in batch)\n        page += 1',
                             'song_ids.extend(s["id"] for s in batch)\n        break')
        artist = _spec(world, t).answer
        catalogue = [s for s in world.data.rows("music", "songs") if s["artist_name"] == artist]
        assert grade.success == (len(catalogue) <= 20)


def test_least_played_songs_first_fails(world):
    for t in _tasks_of("music_text_top_songs"):
        grade = _run_variant(world, t, "key=lambda s: (-plays[s], songs[s][\"title\"])",
                             "key=lambda s: (plays[s], songs[s][\"title\"])")
        assert "answer" in _failed(grade) and any(n.startswith("requested:") for n in _failed(grade))


def test_texts_reach_the_recipients(world):
    t = _tasks_of("music_text_top_songs")[0]
    env, grade = _quiet(run_expert, world, t)
    assert grade.success
    received = [c for c in env.state.diff()
                if c.kind == "insert" and c.table == "messages" and c.after["direction"] == "received"]
    assert len(received) == 1 and received[0].after["content"] == _spec(world, t).answer
