"""Which versions of a library serve its readers.

Two rules, one per kind of reader:

- :func:`serving_versions`, for a reader with no run of its own (the MCP server, a
  person): one version per name, the trusted one first.
- retrieval inside a run (`skillbank.retrieval.STATUS_PRECEDENCE`) ranks the run's own
  candidate first instead: within a chain a later definition replaces the earlier one,
  and other runs' candidates are never seen. Both serve only :data:`SERVED_STATUSES`
  beyond candidates.
"""

from __future__ import annotations

from collections.abc import Iterable

from skillbank.store.base import StoredVersion, VersionStatus

#: The statuses served to every reader: the trusted version (promoted) and the one on
#: trial (canary). A candidate serves only the run that produced it (or, through
#: :func:`serving_versions`, a reader who asks for candidates); quarantined and retired
#: versions never serve.
SERVED_STATUSES: tuple[VersionStatus, ...] = (VersionStatus.PROMOTED, VersionStatus.CANARY)

_ORDER = {VersionStatus.PROMOTED: 0, VersionStatus.CANARY: 1, VersionStatus.CANDIDATE: 2}


def serving_versions(versions: Iterable[StoredVersion], *, candidates: bool = True) -> list[StoredVersion]:
    """The version that serves each name among `versions`, sorted by name: its promoted
    version, else its canary, else (with `candidates`) its latest candidate; among
    versions of one status the highest number wins. Quarantined and retired versions
    never serve."""
    best: dict[str, tuple[tuple[int, int], StoredVersion]] = {}
    for v in versions:
        status = VersionStatus(v.status)
        if status not in _ORDER or (status is VersionStatus.CANDIDATE and not candidates):
            continue
        key = (_ORDER[status], -v.version)
        if v.name not in best or key < best[v.name][0]:
            best[v.name] = (key, v)
    return [v for _, v in sorted(best.values(), key=lambda kv: kv[1].name)]


__all__ = ["SERVED_STATUSES", "serving_versions"]
