"""Property-based tests of the REST API from its own OpenAPI spec (schemathesis): whatever
a client sends that fits the spec, or does not, the server never fails with a 5xx and
always answers JSON.

Runs once with an admin token (so requests get past authentication and reach the
library) and once with a read token of another namespace (every route must refuse
cleanly)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the REST API needs the `web` extra (fastapi)")
schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a development dependency")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import content_type_conformance  # noqa: E402

from skillbank.serve.app import create_app  # noqa: E402
from skillbank.serve.tokens import TokenRegistry  # noqa: E402
from skillbank.store import open_store  # noqa: E402

# Loaded at import: schemathesis builds one test per operation from the spec.
_dir = Path(tempfile.mkdtemp(prefix="skillbank-schemathesis-"))
_store = open_store(_dir / "lib.db")
_store.create_namespace("team-a")
_v, _ = _store.put_version("def total(xs: list[int]) -> int:\n    '''Sum.'''\n    return sum(xs)\n", namespace="team-a")
_store.set_alias("total", "stable", 1, expected_generation=None, namespace="team-a", actor="test")
_ADMIN = TokenRegistry(_store).create("team-a", "admin")[0]
_OTHER = TokenRegistry(_store).create("default", "read")[0]
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(_store, runs_dir=_dir / "runs"))

_SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@schema.parametrize()
@_SETTINGS
def test_admin_requests_never_fail_the_server(case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {_ADMIN}"},
                           checks=[not_a_server_error, content_type_conformance])


@schema.parametrize()
@_SETTINGS
def test_foreign_token_requests_never_fail_the_server(case) -> None:
    response = case.call(headers={"Authorization": f"Bearer {_OTHER}"})
    assert response.status_code < 500, response.text
    content_type = response.headers.get("content-type", [""])
    assert (content_type[0] if isinstance(content_type, list) else content_type).startswith("application/json")
