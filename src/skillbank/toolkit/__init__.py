"""Bring your own tools: plain Python functions become an app the agent calls as
``apis.<app>.<tool>(...)``, your data becomes copy-on-write state, and your tasks
(an instruction plus a checker returning a `Grade`) become a world that `skillbank run
--world package.module:make_world` plays.

The shipped `support` world (`skillbank.toolkit.support`) is written with this API only;
copy it to start your own.
"""

from skillbank.toolkit.app import App, ToolContext, ToolError, ToolInfo, api_doc
from skillbank.toolkit.signature import Field, parse_docstring, read_signature
from skillbank.toolkit.world import (
    CallRecord,
    Outcome,
    Scenario,
    TaskDef,
    ToolkitTaskEnv,
    ToolkitWorld,
    answers_equal,
    check_state,
    completed_test,
    ledger_test,
    side_effects,
)
from skillbank.worlds.base import ANSWER, GUARD, TASK, Grade, TestResult
from skillbank.worlds.engine.grading import Allow, Expect
from skillbank.worlds.engine.state import OutboundEntry

__all__ = [
    "ANSWER", "GUARD", "TASK", "Allow", "App", "CallRecord", "Expect", "Field", "Grade", "OutboundEntry", "Outcome",
    "Scenario", "TaskDef", "TestResult", "ToolContext", "ToolError", "ToolInfo", "ToolkitTaskEnv", "ToolkitWorld",
    "answers_equal", "api_doc", "check_state", "completed_test", "ledger_test", "parse_docstring", "read_signature",
    "side_effects",
]
