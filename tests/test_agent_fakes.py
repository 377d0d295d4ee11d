"""Test doubles for the agent tests: a two-app world, an in-process session and a
replay policy. The in-process session exec's code in the test process: tests only; the
product always goes through the sandbox."""

from __future__ import annotations

import contextlib
import io
import sys
import time
import traceback
from collections.abc import Sequence
from typing import Any

from skillbank.llm.base import EpisodeInfo
from skillbank.llm.replay import ReplayPolicy
from skillbank.sandbox.types import ApiCallRecord, ExecutionResult, FrameInfo
from skillbank.worlds.base import ApiError, ExpertSolution, Grade, Task
from skillbank.worlds.base import TestResult as Check

NOTES = [
    {"id": 1, "title": "shop list"},
    {"id": 2, "title": "work plan"},
    {"id": 3, "title": "shop receipts"},
    {"id": 4, "title": "home repairs"},
    {"id": 5, "title": "work review"},
]

COUNT_SKILL = '''\
def count_notes(word: str) -> int:
    """Count the supervisor's notes whose title contains `word`."""
    passwords = {p["account_name"]: p["password"] for p in apis.supervisor.show_account_passwords()}
    token = apis.notes.login(username="me", password=passwords["notes"])["access_token"]
    found, page = 0, 0
    while True:
        batch = apis.notes.list_notes(access_token=token, page_index=page)
        if not batch:
            return found
        found += sum(word in n["title"] for n in batch)
        page += 1
'''

TITLES_SKILL = '''\
def note_titles(word: str) -> list:
    """Titles of the supervisor's notes that contain `word`, sorted."""
    passwords = {p["account_name"]: p["password"] for p in apis.supervisor.show_account_passwords()}
    token = apis.notes.login(username="me", password=passwords["notes"])["access_token"]
    titles, page = [], 0
    while True:
        batch = apis.notes.list_notes(access_token=token, page_index=page)
        if not batch:
            return sorted(titles)
        titles += [n["title"] for n in batch if word in n["title"]]
        page += 1
'''

# A version that calls an API the app does not have: it fails when used.
BROKEN_COUNT_SKILL = '''\
def count_notes(word: str) -> int:
    """Count the supervisor's notes whose title contains `word`."""
    return len(apis.notes.search_notes(query=word))
'''

_SCENARIOS = {
    "count": ("dev", "count_notes", COUNT_SKILL, ("shop", "work", "home"),
              "How many of my notes have '{w}' in the title?", lambda w: sum(w in n["title"] for n in NOTES)),
    "titles": ("dev", "note_titles", TITLES_SKILL, ("work", "shop", "re"),
               "List the titles of my notes containing '{w}'.",
               lambda w: sorted(n["title"] for n in NOTES if w in n["title"])),
}


class FakeEnv:
    def __init__(self, task: Task, expected: Any):
        self.task = task
        self.expected = expected
        self.completed = False
        self.status: str | None = None
        self.answer: Any = None

    def call(self, app: str, api: str, **kwargs: Any) -> Any:
        if self.completed:
            raise ApiError("The task is already completed.")
        if (app, api) == ("supervisor", "show_account_passwords"):
            return [{"account_name": "notes", "password": "pw"}]
        if (app, api) == ("supervisor", "complete_task"):
            self.completed, self.status, self.answer = True, kwargs.get("status", "success"), kwargs.get("answer")
            return None
        if (app, api) == ("notes", "login"):
            if kwargs.get("password") != "pw":
                raise ApiError("notes.login: invalid credentials")
            return {"access_token": "tok"}
        if (app, api) == ("notes", "list_notes"):
            if kwargs.get("access_token") != "tok":
                raise ApiError("notes.list_notes: unauthorised")
            page = kwargs.get("page_index", 0)
            return [dict(n) for n in NOTES[page * 2: page * 2 + 2]]
        if (app, api) == ("api_docs", "show_api_doc"):
            return {"api": f"{kwargs.get('app_name')}.{kwargs.get('api_name')}", "paginated": True}
        raise ApiError(f"No API named '{api}' in app '{app}'.")

    def evaluate(self) -> Grade:
        return Grade(self.task.id, (
            Check("completed", self.completed and self.status == "success"),
            Check("answer", self.answer == self.expected),
        ))


class FakeWorld:
    """Two apps (notes, supervisor) plus api_docs; two dev scenarios of three tasks."""

    name = "fake"

    def __init__(self) -> None:
        self._tasks: dict[str, tuple[Task, str, Any]] = {}
        for sid, (split, skill, _src, words, text, answer) in _SCENARIOS.items():
            for i, w in enumerate(words):
                task = Task(id=f"{sid}-{i + 1}", scenario_id=sid, split=split, instruction=text.format(w=w),
                            supervisor={"first_name": "Ada", "email": "ada@example.com"},
                            apps=("notes",), index_in_scenario=i)
                self._tasks[task.id] = (task, w, answer(w))

    def splits(self) -> tuple[str, ...]:
        return ("dev",)

    def tasks(self, split: str | None = None) -> list[Task]:
        return [t for t, _, _ in self._tasks.values() if split is None or t.split == split]

    def task(self, task_id: str) -> Task:
        return self._tasks[task_id][0]

    def start(self, task_id: str) -> FakeEnv:
        task, _, expected = self._tasks[task_id]
        return FakeEnv(task, expected)

    def expert_solution(self, task_id: str) -> ExpertSolution:
        task, word, _ = self._tasks[task_id]
        _split, skill, source, *_ = _SCENARIOS[task.scenario_id]
        return ExpertSolution(
            task_id=task_id,
            skill_sources=(source,),
            skill_names=(skill,),
            call_block=f"answer = {skill}({word!r})\nprint(answer)\napis.supervisor.complete_task(answer=answer)",
            explore_block='print(apis.api_docs.show_api_doc(app_name="notes", api_name="list_notes"))',
        )


class _Proxy:
    def __init__(self, host: Any, calls: list[ApiCallRecord], app: str | None = None):
        self._host, self._calls, self._app = host, calls, app

    def __getattr__(self, name: str) -> Any:
        if self._app is None:
            return _Proxy(self._host, self._calls, name)
        app, api = self._app, name

        def call(**kwargs: Any) -> Any:
            try:
                value = self._host.call(app, api, **kwargs)
            except Exception as exc:
                self._calls.append(ApiCallRecord(app, api, kwargs, False, str(exc)))
                raise
            self._calls.append(ApiCallRecord(app, api, kwargs, True))
            return value

        return call


class InProcessSession:
    """The sandbox session's shape, exec'ing in this process (tests only)."""

    def __init__(self, host: Any):
        self.host = host
        self.blocks = 0
        self._calls: list[ApiCallRecord] = []
        self.namespace: dict[str, Any] = {"apis": _Proxy(host, self._calls)}

    def _exec(self, code: str, filename: str) -> ExecutionResult:
        self._calls.clear()
        out = io.StringIO()
        started = time.perf_counter()
        before = {k for k, v in self.namespace.items() if callable(v)}
        try:
            compiled = compile(code, filename, "exec")
        except SyntaxError as exc:
            return ExecutionResult(ok=False, error_type="SyntaxError", error_message=f"{exc.msg} (line {exc.lineno})",
                                   traceback=f"SyntaxError: {exc.msg}")
        try:
            with contextlib.redirect_stdout(out):
                exec(compiled, self.namespace)
        except Exception as exc:  # noqa: BLE001 - reported like the sandbox does
            tb = traceback.extract_tb(sys.exc_info()[2])
            frames = tuple(FrameInfo(f.filename, f.lineno or 0, f.name) for f in tb
                           if f.filename.startswith(("<block", "<skill:")))
            return ExecutionResult(ok=False, stdout=out.getvalue(), error_type=type(exc).__name__,
                                   error_message=str(exc), traceback="".join(traceback.format_exception(exc)),
                                   frames=frames, api_calls=tuple(self._calls),
                                   duration_s=time.perf_counter() - started)
        defined = tuple(sorted(k for k, v in self.namespace.items() if callable(v) and k not in before))
        return ExecutionResult(ok=True, stdout=out.getvalue(), api_calls=tuple(self._calls),
                               defined_functions=defined, duration_s=time.perf_counter() - started)

    def preload(self, skills: dict[str, str], refs: dict[str, str] | None = None) -> dict[str, ExecutionResult]:
        return {name: self._exec(src, f"<skill:{name}>") for name, src in skills.items()}

    def run(self, code: str) -> ExecutionResult:
        self.blocks += 1
        return self._exec(code, f"<block-{self.blocks}>")

    def reset(self) -> None:
        self.namespace = {"apis": _Proxy(self.host, self._calls)}


@contextlib.contextmanager
def in_process_sessions(host: Any, task_id: str):
    yield InProcessSession(host)


class RecordingReplay(ReplayPolicy):
    """The real replay policy, also keeping each episode's EpisodeInfo."""

    def __init__(self, responses: Sequence[str]):
        super().__init__(responses)
        self.infos: list[EpisodeInfo] = []

    def start_episode(self, info: EpisodeInfo) -> None:
        self.infos.append(info)
        super().start_episode(info)


def block(code: str, reasoning: str = "Next step.") -> str:
    return f"{reasoning}\n\n```python\n{code.strip()}\n```"
