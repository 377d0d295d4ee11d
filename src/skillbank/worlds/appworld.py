"""An adapter that puts a locally installed AppWorld behind our `World`/`TaskEnv` interface.

AppWorld (Trivedi et al., ACL 2024) is not a dependency: its data comes from a bucket
outside the package registries. A user who has it runs::

    pip install appworld
    appworld install
    appworld download data      # in the directory AppWorld treats as its root

and then ``make_world("appworld")`` (optionally ``root=...`` for that directory).

The adapter uses AppWorld's public surface only: ``load_task_ids(split)`` for the tasks
of a split, ``appworld.task.Task.load(task_id=..., load_ground_truth=False)`` for a task's
instruction and supervisor, ``AppWorld(task_id=..., experiment_name=...)`` for a task's
live environment, ``world.requester.request(app, api, **kwargs)`` for one API call,
``world.task_completed()`` and ``world.evaluate().to_dict()`` (``success``, ``passes``,
``failures``) for grading. AppWorld's ground-truth solutions are not replayed:
``expert_solution`` raises.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Self

from skillbank.errors import ConfigError, NotFoundError, ValidationError
from skillbank.worlds.base import ApiError, ExpertSolution, Grade, Task, TestResult

SPLITS = ("train", "dev", "test_normal", "test_challenge")

INSTALL_HINT = "pip install appworld && appworld install && appworld download data"


def _import_appworld() -> ModuleType:
    try:
        return importlib.import_module("appworld")
    except ImportError as exc:
        raise ConfigError(
            f"AppWorld is not installed ({exc}); to use the 'appworld' world run: {INSTALL_HINT}"
        ) from None


def _scenario_of(task_id: str) -> tuple[str, int]:
    """AppWorld task ids are '<scenario>_<n>' with n counted from 1."""
    scenario, sep, index = task_id.rpartition("_")
    if sep and index.isdigit():
        return scenario, int(index) - 1
    return task_id, 0


def _field(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _supervisor(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    out = {}
    for ours, theirs in (("first_name", "first_name"), ("last_name", "last_name"), ("email", "email"),
                         ("phone", "phone_number")):
        value = _field(raw, theirs, _field(raw, ours))
        if value is not None:
            out[ours] = value
    return out


def _requirement(item: Any) -> tuple[str, str]:
    """(name, message) of one entry of AppWorld's `passes`/`failures` lists."""
    if isinstance(item, Mapping):
        name = str(item.get("requirement") or item.get("label") or "requirement")
        return name, str(item.get("trace") or "")
    return str(item), ""


class AppWorldTaskEnv:
    """One AppWorld task environment; `call` goes through AppWorld's requester."""

    def __init__(self, task: Task, world: Any):
        self.task = task
        self._world = world
        self._closed = False

    def call(self, app: str, api: str, **kwargs: Any) -> Any:
        if self._closed:
            raise ApiError(f"{app}.{api}: the AppWorld environment of task {self.task.id} is closed.")
        try:
            return self._world.requester.request(app, api, **kwargs)
        except ApiError:
            raise
        except Exception as exc:
            raise ApiError(f"{app}.{api}: {' '.join(str(exc).split()) or type(exc).__name__}") from exc

    @property
    def completed(self) -> bool:
        return bool(self._world.task_completed())

    def evaluate(self) -> Grade:
        report = self._world.evaluate()
        data = report.to_dict() if hasattr(report, "to_dict") else dict(report)
        tests = [TestResult(name, True, msg or "passed") for name, msg in map(_requirement, data.get("passes") or ())]
        tests += [TestResult(name, False, msg or "failed") for name, msg in map(_requirement, data.get("failures") or ())]
        if not tests:
            # No itemised tests: keep AppWorld's overall verdict as the one test.
            ok = bool(data.get("success"))
            tests = [TestResult("appworld evaluation", ok, "success" if ok else "AppWorld reported failure")]
        return Grade(self.task.id, tuple(tests))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            close = getattr(self._world, "close", None)
            if close is not None:
                close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AppWorldWorld:
    """A locally installed AppWorld, seen through our `World` interface.

    experiment_name: AppWorld writes each task's outputs under
        ``experiments/outputs/<experiment_name>`` of its root.
    root: AppWorld's root directory (the one with ``data/``); default: AppWorld's own
        default (``APPWORLD_ROOT`` or the working directory).
    """

    name = "appworld"

    def __init__(self, *, experiment_name: str = "skillbank", root: str | None = None):
        if not experiment_name or not isinstance(experiment_name, str):
            raise ValidationError("appworld: experiment_name must be a non-empty string")
        self._aw = _import_appworld()
        self.experiment_name = experiment_name
        self.root = root
        if root is not None:
            if not os.path.isdir(os.path.join(root, "data")):
                raise ConfigError(
                    f"AppWorld data not found: {os.path.join(root, 'data')} does not exist; "
                    f"run `appworld download data` in {root}"
                )
            update_root = getattr(self._aw, "update_root", None)
            if update_root is not None:
                update_root(root)
            else:
                os.environ["APPWORLD_ROOT"] = root
        self._ids: dict[str, list[str]] = {}
        self._split_of: dict[str, str] = {}
        self._tasks: dict[str, Task] = {}
        # Fail now, with the fix, rather than on the first task.
        self._task_ids("train")

    # -- World protocol -------------------------------------------------------------
    def splits(self) -> tuple[str, ...]:
        return SPLITS

    def tasks(self, split: str | None = None) -> list[Task]:
        if split is not None and split not in SPLITS:
            raise ValidationError(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
        splits = SPLITS if split is None else (split,)
        return [self.task(tid) for s in splits for tid in self._task_ids(s)]

    def task(self, task_id: str) -> Task:
        cached = self._tasks.get(task_id)
        if cached is not None:
            return cached
        split = self._find_split(task_id)
        spec = self._load_task(task_id)
        scenario, index = _scenario_of(task_id)
        meta = _field(_field(spec, "ground_truth"), "metadata") or {}
        difficulty = _field(meta, "difficulty", _field(spec, "difficulty", 1))
        task = Task(
            id=task_id,
            scenario_id=scenario,
            split=split,
            instruction=str(_field(spec, "instruction", "")),
            supervisor=_supervisor(_field(spec, "supervisor")),
            difficulty=int(difficulty) if isinstance(difficulty, (int, float)) else 1,
            apps=tuple(_field(spec, "allowed_apps", None) or ()),
            index_in_scenario=index,
        )
        close = getattr(spec, "close", None)
        if close is not None:
            close()  # AppWorld's Task holds database handles; we keep only the fields
        self._tasks[task_id] = task
        return task

    def start(self, task_id: str) -> AppWorldTaskEnv:
        task = self.task(task_id)
        try:
            world = self._aw.AppWorld(task_id=task_id, experiment_name=self.experiment_name)
        except FileNotFoundError as exc:
            raise ConfigError(f"AppWorld data for task {task_id} is missing ({exc}); run `appworld download data`") from None
        return AppWorldTaskEnv(task, world)

    def expert_solution(self, task_id: str) -> ExpertSolution:
        self.task(task_id)
        raise ConfigError(
            "the appworld world has no expert solutions: skillbank does not replay AppWorld's ground truth; "
            "use a model policy (openai, local or replay) on it"
        )

    # -- helpers --------------------------------------------------------------------
    def _task_ids(self, split: str) -> list[str]:
        ids = self._ids.get(split)
        if ids is None:
            try:
                ids = list(self._aw.load_task_ids(split))
            except (FileNotFoundError, OSError) as exc:
                raise ConfigError(
                    f"AppWorld data not found ({exc}); run `appworld install` and `appworld download data`, "
                    "then pass root=<that directory> or set APPWORLD_ROOT"
                ) from None
            self._ids[split] = ids
            for tid in ids:
                self._split_of.setdefault(tid, split)
        return ids

    def _find_split(self, task_id: str) -> str:
        for split in SPLITS:
            if task_id in self._split_of:
                break
            self._task_ids(split)
        try:
            return self._split_of[task_id]
        except KeyError:
            raise NotFoundError(f"no task {task_id!r} in AppWorld's splits ({', '.join(SPLITS)})") from None

    def _load_task(self, task_id: str) -> Any:
        try:
            task_module = importlib.import_module("appworld.task")
        except ImportError as exc:
            raise ConfigError(f"this AppWorld install has no appworld.task ({exc}); reinstall: {INSTALL_HINT}") from None
        try:
            return task_module.Task.load(task_id=task_id, load_ground_truth=False)
        except (FileNotFoundError, OSError) as exc:
            raise ConfigError(f"AppWorld data for task {task_id} is missing ({exc}); run `appworld download data`") from None
