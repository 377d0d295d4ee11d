"""The exceptions skillbank raises on purpose.

Every error a user can cause derives from :class:`SkillbankError`; the CLI prints its
message as one line and exits non-zero. Anything else is a bug and shows a traceback
under ``--debug``.
"""

from __future__ import annotations


class SkillbankError(Exception):
    """Base class: a problem skillbank detected and can explain in one line."""

    exit_code = 1


class NotFoundError(SkillbankError):
    """A skill, version, alias, namespace, task or run does not exist."""


class ConflictError(SkillbankError):
    """A compare-and-set lost a race (an alias moved since it was read)."""


class ValidationError(SkillbankError):
    """Input was malformed: bad source, bad option, bad file."""


class ConfigError(SkillbankError):
    """An environment or configuration problem (missing extra, bad URL, missing data)."""


class PermissionDeniedError(SkillbankError):
    """A served library refused the request: no token, a revoked one, another namespace's, or a role too low."""
