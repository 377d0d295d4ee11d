"""The worker: runs agent code inside a locked-down process, one task at a time.

Runs only in a child forked by the zygote, after :func:`_lockdown.lock_down`. Nothing
here is trusted by the parent: the parent validates every frame, times every
execution and records API calls itself. What the worker adds is convenience for the
agent: a shell-like namespace, the `apis` proxy, captured output, and tracebacks
restricted to the agent's own frames.

A worker plays one of two parts. The **task worker** runs the task's code blocks; each
preloaded skill appears in its namespace as a *stub* (``bind``) whose call is a ``skill``
frame to the parent. A **skill worker** holds one preloaded skill: the parent defines it
there (a ``run`` of its source) and sends it ``call`` frames; its namespace has stubs for
the other preloaded skills, so a skill calling a skill goes through the parent too. A
skill therefore shares no object with the task's code or with another skill: nothing it
does can rebind their `apis`, builtins or functions, and every API call it makes reaches
the parent on its own socket.
"""

from __future__ import annotations

import builtins
import json
import linecache
import sys
import time
import traceback
import types
from typing import Any

from skillbank.sandbox import _protocol, static

AGENT_FILE_PREFIXES = ("<block-", "<skill:")
_TRUNCATION_MARKER = "\n…[output truncated: more than {limit} bytes]\n"


class ApiError(Exception):
    """The host refused or failed an `apis.<app>.<api>(...)` call; carries its message."""


class ApiBudgetExceeded(ApiError):
    """This execution already made as many API calls as its budget allows."""


class SkillError(Exception):
    """A preloaded skill failed with an exception that does not cross as itself, or its
    worker was stopped; the message says which."""


# Tracebacks shown to the model should read "ApiError: ...", not name a module path
# that means nothing inside the sandbox.
ApiError.__module__ = ApiBudgetExceeded.__module__ = SkillError.__module__ = "builtins"

#: Exceptions a skill raises that its caller gets as the same class (so `except KeyError`
#: around a skill call works as it would in one process); any other is a SkillError.
_CROSSING_ERRORS: dict[str, type[BaseException]] = {
    cls.__name__: cls
    for cls in (ValueError, TypeError, KeyError, IndexError, LookupError, ZeroDivisionError, ArithmeticError,
                AttributeError, NameError, RuntimeError, AssertionError, NotImplementedError, OverflowError,
                RecursionError, UnicodeError, TimeoutError, MemoryError, ApiError, ApiBudgetExceeded, SkillError)
}
#: Names every namespace's builtins add, so code can catch what the sandbox raises.
_SANDBOX_BUILTINS = {"ApiError": ApiError, "ApiBudgetExceeded": ApiBudgetExceeded, "SkillError": SkillError}
_STUB_SOURCE = "def {name}(*args, **kwargs):\n    return skill_call({name!r}, args, kwargs)\n"


class _CappedOutput:
    """sys.stdout/sys.stderr replacement that keeps the first `limit` bytes.

    Agent code can reach this object and change it; the cap that holds is the
    parent's, which cuts whatever arrives. This one keeps the frame small.
    """

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, limit: int):
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.truncated = False

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self.truncated:
            return len(text)
        data = text.encode("utf-8", "replace")
        room = self.limit - self.size
        if len(data) > room:
            self.parts.append(data[:room].decode("utf-8", "ignore"))
            self.size = self.limit
            self.truncated = True
        else:
            self.parts.append(text)
            self.size += len(data)
        return len(text)

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return False

    def getvalue(self) -> str:
        text = "".join(self.parts)
        if self.truncated:
            text += _TRUNCATION_MARKER.format(limit=self.limit)
        return text


class _AppProxy:
    __slots__ = ("_app", "_caller")

    def __init__(self, app: str, caller: Any):
        object.__setattr__(self, "_app", app)
        object.__setattr__(self, "_caller", caller)

    def __getattribute__(self, api: str) -> Any:
        if api.startswith("__"):
            return object.__getattribute__(self, api)
        app = object.__getattribute__(self, "_app")
        if api.startswith("_"):
            raise AttributeError(f"apis.{app} has no API {api!r}")
        caller = object.__getattribute__(self, "_caller")

        def call(*args: Any, **kwargs: Any) -> Any:
            if args:
                raise TypeError(f"apis.{app}.{api}() takes keyword arguments only, e.g. apis.{app}.{api}(name=value)")
            return caller(app, api, kwargs)

        call.__name__ = api
        call.__qualname__ = f"apis.{app}.{api}"
        return call

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("apis is read-only")

    def __repr__(self) -> str:
        return f"<apis.{object.__getattribute__(self, '_app')}>"


class Apis:
    """`apis.<app>.<api>(**kwargs)`: each call is one round trip to the parent's host."""

    __slots__ = ("_caller",)

    def __init__(self, caller: Any):
        object.__setattr__(self, "_caller", caller)

    def __getattribute__(self, app: str) -> Any:
        # Private names are hidden so the agent meets one clear surface; the parent
        # validates every frame anyway, so this is tidiness, not the boundary.
        if app.startswith("__"):
            return object.__getattribute__(self, app)
        if app.startswith("_"):
            raise AttributeError(f"apis has no app {app!r}")
        return _AppProxy(app, object.__getattribute__(self, "_caller"))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("apis is read-only")

    def __repr__(self) -> str:
        return "<apis: call apis.<app>.<api>(**kwargs)>"


class ModuleViews:
    """What `import m` gives agent code: a view of `m` with its public names only, in
    which a submodule appears only when it is itself an allowed import.

    Modules hold their own imports as attributes (`collections._sys`, and even
    public ones: `typing.sys`, `re.enum.sys`), each a step to `sys.modules` that no
    static rule on names can see. Views close those steps for every allowed module
    at once. Like the static check this is for clear errors, not the boundary: code
    that gets around it meets the kernel's limits.
    """

    def __init__(self, allowed: frozenset[str], real_import: Any):
        self.allowed = allowed
        self.real_import = real_import
        self.views: dict[str, types.ModuleType] = {}

    def is_allowed(self, name: str) -> bool:
        return name.partition(".")[0] in self.allowed

    def view(self, module: types.ModuleType) -> types.ModuleType:
        name = module.__name__
        view = self.views.get(name)
        if view is not None:
            return view
        view = types.ModuleType(name, getattr(module, "__doc__", None))
        views = self

        def __getattr__(attr: str) -> Any:
            if attr == "__all__":
                names = getattr(module, "__all__", None)
                value: Any = list(names) if names is not None else [n for n in vars(module) if not n.startswith("_")]
                return value
            if attr.startswith("_"):
                raise AttributeError(f"module {name!r} has no attribute {attr!r} in the sandbox (private names are hidden)")
            value = getattr(module, attr)
            if isinstance(value, types.ModuleType):
                if not views.is_allowed(value.__name__):
                    raise AttributeError(
                        f"module {name!r} has no attribute {attr!r} in the sandbox ({value.__name__} is not an allowed import)"
                    )
                value = views.view(value)
            view.__dict__[attr] = value  # later lookups are plain attribute hits
            return value

        view.__dict__["__getattr__"] = __getattr__
        self.views[name] = view
        return view

    def import_(self, name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        if level:
            raise ImportError("relative imports are not available in the sandbox")
        if not isinstance(name, str) or not self.is_allowed(name):
            allowed = ", ".join(sorted(self.allowed)) or "(none)"
            raise ImportError(f"import of {name!r} is not allowed in the sandbox; allowed modules: {allowed}")
        for item in fromlist or ():
            if not isinstance(item, str) or (item.startswith("_") and item != "*"):
                raise ImportError(f"cannot import the private name {item!r} from {name!r} in the sandbox")
        return self.view(self.real_import(name, None, None, fromlist, 0))


class Worker:
    def __init__(self, sock: _protocol.Channel, config: dict[str, Any]):
        self.sock = sock
        self.allowed_imports = frozenset(config["allowed_imports"])
        self.stdout_limit = int(config["stdout_limit_bytes"])
        self.pristine_builtins = dict(builtins.__dict__)
        self.modules = ModuleViews(self.allowed_imports, builtins.__import__)
        self.apis = Apis(self._api_call)
        self.namespace: dict[str, Any] = {}
        self.stubs: dict[str, types.FunctionType] = {}
        self.new_namespace()

    # -- apis ---------------------------------------------------------------------------

    def _api_call(self, app: str, api: str, kwargs: dict[str, Any]) -> Any:
        try:
            frame = _protocol.encode({"op": "api", "app": app, "api": api, "kwargs": kwargs})
        except (TypeError, ValueError):
            for key, value in kwargs.items():
                try:
                    json.dumps(value, allow_nan=False)
                except (TypeError, ValueError):
                    raise TypeError(
                        f"apis.{app}.{api}: argument {key!r} is a {type(value).__name__} that is not "
                        "JSON data (or holds NaN/Infinity); pass str, int, finite float, bool, None, list or dict"
                    ) from None
            raise TypeError(f"apis.{app}.{api}: arguments are not JSON-serialisable") from None
        self.sock.send_raw(frame)
        reply = self.sock.recv()
        if reply.get("ok"):
            return reply.get("result")
        cls = ApiBudgetExceeded if reply.get("type") == "ApiBudgetExceeded" else ApiError
        raise cls(str(reply.get("error", "API call failed")))

    # -- skills of other workers --------------------------------------------------------

    def _skill_call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            frame = _protocol.encode({"op": "skill", "name": name, "args": list(args), "kwargs": kwargs})
        except (TypeError, ValueError):
            raise TypeError(
                f"{name}(): skills run in a worker of their own, so arguments cross as JSON data; pass str, "
                "int, finite float, bool, None, list or dict (not functions, sets or objects)"
            ) from None
        self.sock.send_raw(frame)
        reply = self.sock.recv()
        text = reply.get("stdout")
        if isinstance(text, str) and text:
            sys.stdout.write(text)
        if reply.get("ok"):
            return reply.get("result")
        cls = _CROSSING_ERRORS.get(str(reply.get("type")), SkillError)
        exc = cls(str(reply.get("error", f"skill {name} failed")))
        frames = reply.get("frames")
        if isinstance(frames, list):
            exc.skill_frames = frames  # type: ignore[attr-defined]  # spliced into the traceback
        raise exc

    def bind(self, names: dict[str, Any]) -> None:
        """Stubs for the preloaded skills `names` (name -> docstring) in every namespace
        from now on; each call is a `skill` frame to the parent."""
        for name, doc in names.items():
            if not (isinstance(name, str) and name.isidentifier()):
                continue
            scope: dict[str, Any] = {"__builtins__": {}, "skill_call": self._skill_call}
            exec(compile(_STUB_SOURCE.format(name=name), f"<skill:{name}>", "exec"), scope)  # noqa: S102
            stub = scope[name]
            stub.__doc__ = doc if isinstance(doc, str) else None
            self.stubs[name] = stub
            self.namespace[name] = stub

    def call(self, name: str, args: Any, kwargs: Any) -> dict[str, Any]:
        """Call the skill defined in this (skill) worker's namespace; its value as JSON data."""
        started = time.perf_counter()
        out = _CappedOutput(self.stdout_limit)
        result: dict[str, Any] = {"op": "done", "ok": True}
        fn = self.namespace.get(name)
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = out
        value: Any = None
        try:
            if not isinstance(fn, types.FunctionType) or not isinstance(args, list) or not isinstance(kwargs, dict):
                raise SkillError(f"skill {name} is not defined in its worker")
            value = fn(*args, **kwargs)
        except MemoryError:
            sys.stdout, sys.stderr = saved
            result.update(ok=False, error_type="MemoryError", error_message="the address-space limit was reached",
                          recycle="memory")
        except BaseException as exc:  # noqa: BLE001 - skill code may raise anything
            sys.stdout, sys.stderr = saved
            result.update(self._exception(exc))
        finally:
            sys.stdout, sys.stderr = saved
            self.restore_builtins()
        if result["ok"]:
            try:
                _protocol.encode(value)
                result["value"] = value
            except (TypeError, ValueError, RecursionError):
                result.update(ok=False, error_type="TypeError", error_message=(
                    f"{name}() returned a {type(value).__name__} that is not JSON data; skills run in a worker "
                    "of their own, so results cross as str, int, finite float, bool, None, list or dict"))
        result["stdout"] = out.getvalue()
        result["duration_s"] = time.perf_counter() - started
        return result

    # -- namespaces ---------------------------------------------------------------------

    def restore_builtins(self) -> None:
        # The harness itself runs on the builtins module; agent code that patched it
        # (`builtins.len = ...`) must not break the harness or reach the next task.
        shared = builtins.__dict__
        if shared != self.pristine_builtins:
            for name in shared.keys() - self.pristine_builtins.keys():
                del shared[name]
            shared.update(self.pristine_builtins)

    def new_namespace(self) -> None:
        # Each task also gets its own copy of the builtins dict for its globals.
        self.restore_builtins()
        self.namespace = {"__name__": "__main__", "__builtins__": {**self.pristine_builtins, **_SANDBOX_BUILTINS},
                          "apis": self.apis}
        self.namespace.update(self.stubs)

    # -- running code -------------------------------------------------------------------

    def compile_block(self, code: str, filename: str) -> tuple[types.CodeType, types.CodeType | None]:
        """Compile `code`, splitting off a trailing expression whose value is shown.

        Fast path: when the last line starts at column 0 and both it (as an
        expression) and everything before it (as statements) compile, that split is
        the parse. Otherwise the AST decides.
        """
        lines = code.splitlines()
        last = len(lines) - 1
        while last >= 0 and (not lines[last].strip() or lines[last].lstrip().startswith("#")):
            last -= 1
        if last >= 0 and not lines[last][:1].isspace():
            head = "\n".join(lines[:last])
            try:
                tail = compile("\n" * last + lines[last], filename, "eval", dont_inherit=True)
                body = compile(head, filename, "exec", dont_inherit=True)
                return body, tail
            except SyntaxError:
                pass
        import ast  # already imported before lockdown; local to keep the fast path lean

        tree = ast.parse(code, filename=filename)
        final = tree.body[-1] if tree.body else None
        if isinstance(final, ast.Expr):
            tree.body.pop()
            expr = ast.Expression(final.value)
            return compile(tree, filename, "exec", dont_inherit=True), compile(expr, filename, "eval", dont_inherit=True)
        return compile(tree, filename, "exec", dont_inherit=True), None

    def run(self, code: str, filename: str, check: bool) -> dict[str, Any]:
        started = time.perf_counter()
        out = _CappedOutput(self.stdout_limit)
        result: dict[str, Any] = {"op": "done", "ok": True}
        linecache.cache[filename] = (len(code), None, [line + "\n" for line in code.splitlines()], filename)
        try:
            body, tail = self.compile_block(code, filename)
        except SyntaxError as exc:
            result.update(self._syntax_error(exc, filename, check))
            result["duration_s"] = time.perf_counter() - started
            return result
        if check:
            codes = [body] if tail is None else [body, tail]
            if static.needs_full_check(code, codes):
                problems = static.find_problems(code, self.allowed_imports, filename)
                if problems:
                    result.update(
                        ok=False,
                        error_type="StaticCheckError",
                        error_message="the code was refused before running: " + "; ".join(problems),
                        static_errors=list(problems),
                    )
                    result["duration_s"] = time.perf_counter() - started
                    return result
        ns = self.namespace
        ns["apis"] = self.apis
        agent_builtins = ns.get("__builtins__")
        if type(agent_builtins) is not dict:
            agent_builtins = ns["__builtins__"] = {**self.pristine_builtins, **_SANDBOX_BUILTINS}
        # With the static check on, imports give module views; without it the kernel
        # boundary is tested on its own, so agent code gets the plain import.
        agent_builtins["__import__"] = self.modules.import_ if check else self.pristine_builtins["__import__"]
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = out
        value = None
        try:
            exec(body, ns)  # noqa: S102 - running the agent's code is this process's job
            if tail is not None:
                value = eval(tail, ns)
        except MemoryError:
            sys.stdout, sys.stderr = saved
            result.update(ok=False, error_type="MemoryError", error_message="the address-space limit was reached", recycle="memory")
        except BaseException as exc:  # noqa: BLE001 - agent code may raise anything, SystemExit included
            sys.stdout, sys.stderr = saved
            result.update(self._exception(exc))
        finally:
            sys.stdout, sys.stderr = saved
            self.restore_builtins()
        if result["ok"] and value is not None:
            try:
                text = repr(value)
            except BaseException as exc:  # noqa: BLE001
                text = f"<repr() failed: {type(exc).__name__}: {exc}>"
            if len(text) > self.stdout_limit:
                text = text[: self.stdout_limit] + "…[repr truncated]"
            result["result_repr"] = text
        result["stdout"] = out.getvalue()
        result["stdout_truncated"] = out.truncated
        result["defined_functions"] = [
            name
            for name, obj in ns.items()
            if isinstance(obj, types.FunctionType) and obj.__code__.co_filename == filename and obj.__name__ == name
        ]
        result["duration_s"] = time.perf_counter() - started
        return result

    @staticmethod
    def _safe_str(exc: BaseException) -> str:
        try:
            return str(exc)
        except BaseException:  # noqa: BLE001
            return "<str() of the exception failed>"

    def _syntax_error(self, exc: SyntaxError, filename: str, check: bool) -> dict[str, Any]:
        lineno = exc.lineno or 0
        text = "".join(traceback.format_exception_only(type(exc), exc))
        out: dict[str, Any] = {
            "ok": False,
            "error_type": type(exc).__name__,
            "error_message": f"{exc.msg} (line {lineno})",
            "traceback": text,
            "frames": [[filename, lineno, "<module>"]],
        }
        if check:
            out["static_errors"] = [f"line {lineno}: syntax error: {exc.msg}"]
        return out

    def _exception(self, exc: BaseException) -> dict[str, Any]:
        frames = [
            fs for fs in traceback.extract_tb(exc.__traceback__) if fs.filename.startswith(AGENT_FILE_PREFIXES)
        ]
        remote = getattr(exc, "skill_frames", None)
        if isinstance(remote, list) and frames and frames[-1].filename.startswith("<skill:"):
            # The last frame is a stub: show the skill's own frames (from its worker) instead.
            frames.pop()
            frames.extend(
                traceback.FrameSummary(f[0], f[1], f[2], lookup_line=False,
                                       line=f[3] if len(f) > 3 and isinstance(f[3], str) else None)
                for f in remote[:50]
                if isinstance(f, list) and len(f) >= 3 and isinstance(f[0], str) and type(f[1]) is int
                and isinstance(f[2], str)
            )
        lines = ["Traceback (most recent call last):\n"]
        lines.extend(traceback.format_list(frames))
        lines.extend(traceback.format_exception_only(type(exc), exc))
        text = "".join(lines)
        if len(text) > self.stdout_limit:
            text = text[-self.stdout_limit :]
        return {
            "ok": False,
            "error_type": type(exc).__name__,
            "error_message": self._safe_str(exc)[: self.stdout_limit],
            "traceback": text,
            "frames": [[fs.filename, fs.lineno or 0, fs.name, (fs.line or "")[:200]] for fs in frames],
        }

    # -- the loop -----------------------------------------------------------------------

    def serve(self) -> None:
        while True:
            try:
                msg = self.sock.recv()
            except _protocol.PeerClosed:
                return
            # The parent's token goes back with the result; it is kept out of the
            # message (and so out of easy reach of the code that runs) meanwhile.
            op, seq, token = msg.pop("op", None), msg.pop("seq", None), msg.pop("token", None)
            if op == "run":
                code, filename, check = msg.pop("code", ""), msg.pop("filename", "<block>"), bool(msg.pop("check", True))
                del msg
                reply = self.run(code, filename, check)
            elif op == "call":
                name, args, kwargs = msg.pop("name", ""), msg.pop("args", None), msg.pop("kwargs", None)
                del msg
                reply = self.call(name, args, kwargs)
            elif op == "bind":
                names = msg.pop("names", {})
                self.bind(names if isinstance(names, dict) else {})
                reply = {"op": "done", "ok": True}
            elif op == "reset":
                self.new_namespace()
                reply = {"op": "done", "ok": True}
            elif op == "ping":
                reply = {"op": "done", "ok": True}
            else:
                reply = {"op": "done", "ok": False, "error_type": "ProtocolError", "error_message": f"unknown op {op!r}"}
            reply["seq"], reply["token"] = seq, token
            try:
                self.sock.send(reply)
            except (TypeError, ValueError):
                self.sock.send({"op": "done", "ok": False, "error_type": "InternalError", "error_message": "result could not be encoded", "seq": seq, "token": token})
