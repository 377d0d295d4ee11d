"""The AppWorld adapter's wiring, against a fake of AppWorld's public surface.

AppWorld's data cannot be downloaded here, so a small fake `appworld` package (the
`AppWorld` environment with a requester, `load_task_ids`, `appworld.task.Task.load`) is
injected into `sys.modules`. These tests check what the adapter asks of AppWorld and what
it makes of the answers, not AppWorld itself.
"""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import pytest

from skillbank.errors import ConfigError, NotFoundError, ValidationError
from skillbank.worlds.appworld import AppWorldTaskEnv, AppWorldWorld
from skillbank.worlds.base import ApiError
from skillbank.worlds.registry import make_world

SPLIT_IDS = {
    "train": ["82e2fac_1", "82e2fac_2", "82e2fac_3"],
    "dev": ["aa01bcd_1", "aa01bcd_2", "aa01bcd_3"],
    "test_normal": ["bb02cde_1", "bb02cde_2", "bb02cde_3"],
    "test_challenge": ["cc03def_1", "cc03def_2", "cc03def_3"],
}


def make_fake(*, data: bool = True):
    """A fake `appworld` package and its `appworld.task` module; `log` records what was asked."""
    log = SimpleNamespace(requests=[], opened=[], closed=[], loaded=[], roots=[])

    class Requester:
        def __init__(self, task_id):
            self.task_id = task_id

        def request(self, app, api, **kwargs):
            log.requests.append((self.task_id, app, api, kwargs))
            if app == "spotify" and api == "login" and kwargs.get("password") != "pw":
                raise Exception("Response status code is 401:\n{'message': 'Invalid credentials'}")
            if app == "supervisor" and api == "complete_task":
                self.completed = True
            return {"app": app, "api": api, "echo": kwargs}

    class Evaluation:
        def __init__(self, completed):
            self.completed = completed

        def to_dict(self):
            passes = [{"requirement": "assert answers match", "label": "no_op_fail"}]
            failures = [] if self.completed else [
                {"requirement": "assert the task was completed", "trace": "AssertionError: complete_task was not called"}
            ]
            return {"success": not failures, "num_tests": len(passes) + len(failures), "passes": passes, "failures": failures}

    class AppWorld:
        def __init__(self, task_id, experiment_name, **kwargs):
            log.opened.append((task_id, experiment_name))
            self.task_id = task_id
            self.requester = Requester(task_id)

        def task_completed(self):
            return getattr(self.requester, "completed", False)

        def evaluate(self):
            return Evaluation(self.task_completed())

        def close(self):
            log.closed.append(self.task_id)

    def load_task_ids(split):
        if not data:
            raise FileNotFoundError(2, "No such file or directory", "/nowhere/data/datasets/train.txt")
        return list(SPLIT_IDS[split])

    class Task:
        @staticmethod
        def load(task_id, load_ground_truth=True):
            assert load_ground_truth is False  # the adapter never reads ground truth
            log.loaded.append(task_id)
            return SimpleNamespace(
                instruction=f"Do the thing for {task_id}.",
                supervisor={"first_name": "Ada", "last_name": "Byron", "email": "ada@example.com", "phone_number": "5550100"},
                allowed_apps=["spotify", "venmo"],
                close=lambda: None,
            )

    module = types.ModuleType("appworld")
    module.AppWorld = AppWorld
    module.load_task_ids = load_task_ids
    module.update_root = lambda root: log.roots.append(root)
    task_module = types.ModuleType("appworld.task")
    task_module.Task = Task
    module.task = task_module
    return module, task_module, log


@pytest.fixture
def fake(monkeypatch):
    module, task_module, log = make_fake()
    monkeypatch.setitem(sys.modules, "appworld", module)
    monkeypatch.setitem(sys.modules, "appworld.task", task_module)
    return log


def test_without_appworld_installed_the_error_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "appworld", None)  # makes `import appworld` fail
    with pytest.raises(ConfigError, match=r"AppWorld is not installed.*pip install appworld && appworld install && appworld download data"):
        AppWorldWorld()
    with pytest.raises(ConfigError, match="not installed"):
        make_world("appworld")


def test_without_its_data_the_error_says_how_to_get_it(monkeypatch):
    module, task_module, _ = make_fake(data=False)
    monkeypatch.setitem(sys.modules, "appworld", module)
    monkeypatch.setitem(sys.modules, "appworld.task", task_module)
    with pytest.raises(ConfigError, match=r"AppWorld data not found.*appworld download data"):
        AppWorldWorld()


def test_a_root_without_data_is_refused(fake, tmp_path):
    with pytest.raises(ConfigError, match=r"data does not exist; run `appworld download data`"):
        AppWorldWorld(root=str(tmp_path))
    (tmp_path / "data").mkdir()
    AppWorldWorld(root=str(tmp_path))
    assert fake.roots == [str(tmp_path)]


def test_tasks_per_split_from_the_dataset_loader(fake):
    world = make_world("appworld", experiment_name="exp1")
    assert world.name == "appworld" and world.splits() == ("train", "dev", "test_normal", "test_challenge")
    dev = world.tasks("dev")
    assert [t.id for t in dev] == SPLIT_IDS["dev"]
    assert {t.split for t in dev} == {"dev"} and {t.scenario_id for t in dev} == {"aa01bcd"}
    assert [t.index_in_scenario for t in dev] == [0, 1, 2]
    assert len(world.tasks()) == sum(map(len, SPLIT_IDS.values()))
    t = world.task("cc03def_2")
    assert t.split == "test_challenge" and t.instruction == "Do the thing for cc03def_2."
    assert t.supervisor == {"first_name": "Ada", "last_name": "Byron", "email": "ada@example.com", "phone": "5550100"}
    assert t.apps == ("spotify", "venmo")
    with pytest.raises(ValidationError, match="unknown split 'val'"):
        world.tasks("val")
    with pytest.raises(NotFoundError, match="no task 'zzz_1' in AppWorld"):
        world.task("zzz_1")


def test_start_call_and_evaluate_go_through_appworld(fake):
    world = AppWorldWorld(experiment_name="exp1")
    env = world.start("82e2fac_2")
    assert isinstance(env, AppWorldTaskEnv) and env.task.id == "82e2fac_2"
    assert fake.opened == [("82e2fac_2", "exp1")]
    out = env.call("spotify", "show_song", song_id=7)
    assert out == {"app": "spotify", "api": "show_song", "echo": {"song_id": 7}}
    assert fake.requests[-1] == ("82e2fac_2", "spotify", "show_song", {"song_id": 7})

    grade = env.evaluate()
    assert not env.completed and not grade.success and grade.fraction == 0.5
    failed = [t for t in grade.tests if not t.passed]
    assert [t.name for t in failed] == ["assert the task was completed"]
    assert "complete_task was not called" in failed[0].message

    env.call("supervisor", "complete_task", answer=None)
    assert env.completed
    grade = env.evaluate()
    assert grade.success and grade.task_id == "82e2fac_2" and [t.name for t in grade.tests] == ["assert answers match"]


def test_appworld_refusals_become_api_errors_naming_the_api(fake):
    env = AppWorldWorld().start("82e2fac_1")
    with pytest.raises(ApiError, match=r"^spotify\.login: Response status code is 401: \{'message': 'Invalid credentials'\}$"):
        env.call("spotify", "login", username="a@b.c", password="wrong")
    assert env.call("spotify", "login", username="a@b.c", password="pw")["api"] == "login"


def test_close_closes_appworld_once(fake):
    world = AppWorldWorld()
    with world.start("bb02cde_3") as env:
        env.call("spotify", "show_song", song_id=1)
    env.close()
    assert fake.closed == ["bb02cde_3"]
    with pytest.raises(ApiError, match="closed"):
        env.call("spotify", "show_song", song_id=1)


def test_expert_solution_is_refused_clearly(fake):
    world = AppWorldWorld()
    with pytest.raises(ConfigError, match="does not replay AppWorld's ground truth"):
        world.expert_solution("82e2fac_1")
    with pytest.raises(NotFoundError):
        world.expert_solution("nope_1")


def test_options_are_checked(fake):
    with pytest.raises(ValidationError, match="unknown option.*'appworld': people"):
        make_world("appworld", people=3)
    with pytest.raises(ValidationError, match="experiment_name"):
        AppWorldWorld(experiment_name="")


def test_the_env_serves_the_sandbox_as_its_api_host(fake):
    from skillbank.sandbox import SandboxConfig, SandboxPool

    env = AppWorldWorld().start("aa01bcd_1")
    with SandboxPool(SandboxConfig(workers=1)) as pool, pool.session(env, task_id="aa01bcd_1") as s:
        r = s.run("x = apis.spotify.show_song(song_id=3)\nprint(x['echo'])\napis.supervisor.complete_task()")
    assert r.ok, r.error_message
    assert r.stdout.strip() == "{'song_id': 3}"
    assert [(c.app, c.api) for c in r.api_calls] == [("spotify", "show_song"), ("supervisor", "complete_task")]
    assert env.evaluate().success
