"""What an API function of the built-in apps sees: the task's state, the logged-in user,
id generation and the world's people."""

from __future__ import annotations

from typing import Any

from skillbank.worlds.engine.state import State, Table


class CallContext:
    """What an API function sees: the state, the caller, ids and the frozen clock."""

    __slots__ = ("_user", "app", "env", "state")

    def __init__(self, env: Any, app: str, user: str | None):
        self.env = env
        self.state: State = env.state
        self.app = app
        self._user = user

    @property
    def user(self) -> str:
        """The logged-in caller's person id. Only APIs declared with ``auth=True`` have one
        (the env authorises their token before the call); the others never read it."""
        if self._user is None:
            raise RuntimeError(f"{self.app}: an API without auth=True has no logged-in user")
        return self._user

    def table(self, name: str, app: str | None = None) -> Table:
        return self.state.table(app or self.app, name)

    def new_id(self, prefix: str) -> str:
        return self.env.new_id(prefix)

    def person(self, person_id: str) -> dict[str, Any]:
        return self.env.world.people_by_id[person_id]

    def person_by_email(self, email: str) -> dict[str, Any] | None:
        return self.env.world.people_by_email.get(email.lower())

    def person_by_phone(self, phone: str) -> dict[str, Any] | None:
        return self.env.world.people_by_phone.get(phone)
