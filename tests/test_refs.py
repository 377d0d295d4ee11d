"""Skill references (`skillbank.refs`) and the rule for which version serves a name
(`skillbank.store.serving`): records only, no library."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from skillbank.errors import ValidationError
from skillbank.refs import check_version, format_ref, parse_ref, parse_version_ref
from skillbank.store.base import Provenance, StoredVersion, VersionStatus
from skillbank.store.serving import SERVED_STATUSES, serving_versions


@pytest.mark.parametrize("ref, parsed", [
    ("total", ("total", None)), ("total@3", ("total", "3")), ("total@promoted", ("total", "promoted")),
    ("total@latest", ("total", "latest")),
])
def test_parse_ref(ref: str, parsed: tuple[str, str | None]) -> None:
    assert parse_ref(ref) == parsed


@pytest.mark.parametrize("ref, message", [
    ("@3", "use NAME, NAME@VERSION or NAME@ALIAS"),
    ("total@", "use NAME, NAME@VERSION or NAME@ALIAS"),
    ("total@0", "'0' is not a version number"),
    ("total@bad alias", "'bad alias' is not a version number"),
])
def test_parse_ref_refuses(ref: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_ref(ref)


def test_version_refs_round_trip() -> None:
    assert parse_version_ref(format_ref("total", 12)) == ("total", 12)
    for bad in ("total", "total@promoted"):
        with pytest.raises(ValidationError, match="use NAME@VERSION"):
            parse_version_ref(bad)
    assert check_version("2") == "2" and check_version("stable") == "stable"
    with pytest.raises(ValidationError, match="invalid version '0'"):
        check_version("0")


def _v(name: str, version: int, status: VersionStatus) -> StoredVersion:
    return StoredVersion(id=f"{name}{version}", namespace="default", name=name, version=version, content_hash="h",
                         source="", docstring=None, signature="", input_schema=None, status=status,
                         provenance=Provenance(), created_at=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc))


def test_serving_versions_prefer_promoted_then_canary_then_the_latest_candidate() -> None:
    s = VersionStatus
    versions = [
        _v("a", 1, s.PROMOTED), _v("a", 2, s.CANARY), _v("a", 3, s.CANDIDATE),
        _v("b", 1, s.CANDIDATE), _v("b", 2, s.CANARY), _v("b", 3, s.QUARANTINED),
        _v("c", 1, s.CANDIDATE), _v("c", 2, s.CANDIDATE), _v("c", 3, s.RETIRED),
        _v("d", 1, s.QUARANTINED),
    ]
    assert [v.id for v in serving_versions(reversed(versions))] == ["a1", "b2", "c2"]
    assert [v.id for v in serving_versions(versions, candidates=False)] == ["a1", "b2"]
    # a status given as its value is read the same
    assert serving_versions([dataclasses.replace(_v("e", 1, s.CANARY), status="canary")])[0].id == "e1"
    assert set(SERVED_STATUSES) == {s.PROMOTED, s.CANARY}
