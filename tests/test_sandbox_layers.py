"""Each isolation layer proven on its own.

The escape corpus shows that the layers together contain hostile programs; these tests
show what each layer refuses by itself. The kernel-surface probes of
`tests/escape_corpus/kern_*.py` (and `proc_os_execv.py`) run in pools with exactly one
optional layer switched on (`SandboxConfig(layers=(...))`, a test-only setting), and
with none: without any layer every probe must show its escape (so a probe that fails
for an unrelated reason cannot pass for containment), and with one layer the probe is
refused exactly when the table below says that layer refuses it.

Probes that would change the host when they escape are written so that success changes
nothing (they set a limit or a flag to the value they read, remove what they create).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

import pytest

from skillbank.sandbox import EchoHost, SandboxConfig, SandboxPool, probe
from skillbank.sandbox import _lockdown, _namespaces

CORPUS = Path(__file__).parent / "escape_corpus"
ROOT = os.geteuid() == 0
KERNEL = probe()

pytestmark = pytest.mark.skipif(
    not (ROOT and KERNEL["seccomp"] and KERNEL["landlock_abi"]),
    reason="proving each layer needs root, seccomp and Landlock on this machine",
)

# probe -> the single layers that refuse it on their own. Why, per layer:
# seccomp: the allowlist (see _seccomp). landlock: the open or execve it needs is outside
# the read roots. namespaces: the target process is outside the worker's PID namespace.
# uid: the sandbox uid does not own the target (root's process or file).
REFUSED_BY: dict[str, set[str]] = {
    "kern_aio": {"seccomp"},
    "kern_clone3": {"seccomp"},
    "kern_fcntl_setown": {"seccomp", "namespaces"},
    "kern_file_setattr": {"seccomp", "uid"},
    "kern_fs_ioctl_flags": {"seccomp", "landlock", "uid"},
    "kern_ifconf_ioctl": {"seccomp"},  # the socket was made in the host's network namespace
    "kern_import_skillbank": {"seccomp", "landlock"},
    "kern_inotify": {"seccomp"},
    "kern_prlimit_parent": {"seccomp", "namespaces", "uid"},
    "kern_readlink_statfs": {"seccomp"},
    "kern_stat_outside": {"seccomp"},
    "kern_stat_empty_path": {"seccomp"},
    "kern_sysv_msg": {"seccomp"},  # namespaces make them private (test below), not refused
    "kern_sysv_shm": {"seccomp"},
    "proc_os_execv": {"seccomp", "landlock"},
}
# Outcomes that depend on where Python is installed, not on the layer: the sandbox uid
# cannot read a standard library under a private home directory (pyenv in /root).
NOT_ASSERTED = {("uid", "kern_import_skillbank")}

CONFIGS = {"none": (), "seccomp": ("seccomp",), "landlock": ("landlock",), "namespaces": ("namespaces",), "uid": ("uid",)}


def _pool(layers: tuple[str, ...], **kw) -> SandboxPool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SandboxPool(SandboxConfig(workers=1, static_check=False, timeout_s=5.0, layers=layers, **kw))


@pytest.fixture(scope="module")
def world_dir():
    # World-writable and reachable by any uid (pytest's own tmp dirs are private to
    # root), so that only the layer under test can refuse.
    folder = Path(tempfile.mkdtemp(prefix="skillbank-layers-"))
    os.chmod(folder, 0o777)
    (folder / "canary.txt").write_text("the host's data\n")
    yield folder
    shutil.rmtree(folder)


def _run_probe(pool: SandboxPool, name: str, folder: Path) -> tuple[bool, str]:
    marker = folder / f"marker-{name}"
    code = (
        (CORPUS / f"{name}.py")
        .read_text()
        .replace("@@CANARY@@", str(folder / "canary.txt"))
        .replace("@@PARENT_PID@@", str(os.getpid()))
        .replace("@@MARKER@@", str(marker))
    )
    with pool.session(EchoHost(), task_id=name) as session:
        result = session.run(code)
    escaped = "ESCAPED" in f"{result.stdout}{result.result_repr or ''}" or marker.exists()
    if marker.exists():
        marker.unlink()
    how = result.killed and f"killed ({result.extra.get('exit_status')})" or f"{result.error_type}: {result.error_message}"
    return escaped, how


def test_table_covers_every_kernel_probe():
    assert {p.stem for p in CORPUS.glob("kern_*.py")} == {k for k in REFUSED_BY if k.startswith("kern_")}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_each_layer_on_its_own(config, world_dir):
    layers = CONFIGS[config]
    pool = _pool(layers)
    try:
        reported = pool.layers
        for name in _lockdown.OPTIONAL_LAYERS:
            expected = "active" if name in layers else "disabled by config"
            assert reported[name] == expected, (name, reported)
        wrong = []
        for name, refusers in REFUSED_BY.items():
            if (config, name) in NOT_ASSERTED:
                continue
            escaped, how = _run_probe(pool, name, world_dir)
            should_escape = config == "none" or config not in refusers
            if escaped != should_escape:
                wrong.append(f"{name}: {'escaped' if escaped else 'refused'} with {config or 'no'} layer ({how})")
        # the pool serves normally afterwards
        with pool.session(EchoHost()) as session:
            assert session.run("apis.echo.echo(x=1)").result_repr == "{'x': 1}"
    finally:
        pool.close()
    assert not wrong, "\n".join(wrong)


def _shm_code(op: str) -> str:
    return textwrap.dedent(
        f"""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        shmid = libc.syscall(29, 0x5B1B0008, 4096, {'0o1600' if op == 'create' else '0'})
        (shmid, ctypes.get_errno())
        """
    )


def _host_shm_remove(key: int) -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    shmid = libc.syscall(29, key, 0, 0)
    if shmid < 0:
        return False
    libc.syscall(31, shmid, 0, None)
    return True


@pytest.mark.parametrize("layers", [(), ("namespaces",)], ids=["no-layers", "namespaces-only"])
def test_sysv_ipc_does_not_pass_between_tasks(layers):
    """A segment one task leaves behind is visible to the next task only without an IPC namespace."""
    pool = _pool(layers)
    try:
        with pool.session(EchoHost(), task_id="writer") as s:
            created = s.run(_shm_code("create"))
        assert created.ok, created.error_message
        with pool.session(EchoHost(), task_id="reader") as s:
            found = s.run(_shm_code("find"))
        assert found.ok, found.error_message
        shmid, err = eval(found.result_repr)  # noqa: S307 - a tuple of two ints from our own code
        if layers:
            assert shmid == -1 and err == 2  # ENOENT: the writer's IPC namespace died with it
        else:
            assert shmid >= 0  # the escape this layer closes
    finally:
        pool.close()
        leaked = _host_shm_remove(0x5B1B0008)
    assert leaked == (not layers)


def _init_of(worker_pid: int) -> int:
    return int(Path(f"/proc/{worker_pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_workers_live_in_their_own_namespaces_as_the_sandbox_user():
    pool = _pool(_lockdown.OPTIONAL_LAYERS)
    try:
        with pool.session(EchoHost()) as s:
            inside = s.run("import os\n(os.getpid(), os.getppid(), os.uname().nodename, os.getuid(), os.getgid(), os.getgroups())")
            worker = s.worker_pid
            init = _init_of(worker)
            assert Path(f"/proc/{init}/task/{init}/children").read_text().split() == [str(worker)]
            status = Path(f"/proc/{worker}/status").read_text()
            for ns in ("ipc", "net", "mnt", "uts", "pid"):
                assert os.readlink(f"/proc/{worker}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
    finally:
        pool.close()
    pid, ppid, host, uid, gid, groups = eval(inside.result_repr)  # noqa: S307 - a tuple from our own code
    # As root, a uid of the worker's own (SANDBOX_ID + its slot): the kernel's per-user
    # budgets are then per worker.
    assert (pid, ppid, host, groups) == (2, 1, "sandbox", []) and uid == gid
    assert _namespaces.SANDBOX_ID <= uid < _namespaces.SANDBOX_ID + _namespaces.UID_SLOTS
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    assert fields["Uid"].split() == [str(uid)] * 4 and fields["Gid"].split() == [str(uid)] * 4
    assert fields["Groups"].strip() == ""
    assert int(fields["CapEff"], 16) == 0 and int(fields["CapPrm"], 16) == 0
    assert fields["Seccomp"].strip() == "2" and fields["NoNewPrivs"].strip() == "1"


def test_worker_killing_itself_is_a_crash_not_ignored():
    # The worker is pid 2 under a tiny init: a SIGKILL it sends itself is not dropped
    # the way the kernel drops signals an init sends itself.
    pool = _pool(_lockdown.OPTIONAL_LAYERS)
    try:
        with pool.session(EchoHost()) as s:
            r = s.run("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
            assert r.killed == "crash" and r.extra["exit_status"].get("signal") == 9
            r = s.run("import os\nos._exit(7)")
            assert r.killed == "crash" and r.extra["exit_status"].get("exit") == 7
            assert s.run("6 * 7").result_repr == "42"
    finally:
        pool.close()


def test_killing_the_init_leaves_no_worker(tmp_path):
    pool = _pool(_lockdown.OPTIONAL_LAYERS)
    try:
        with pool.session(EchoHost()) as s:
            worker = s.worker_pid
            init = _init_of(worker)
            r = s.run("while True: pass")  # dies by timeout: the pool kills it
    finally:
        pool.close()
    assert r.killed == "timeout"
    for pid in (worker, init):
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_zygote_holds_no_world_or_agent_code():
    pool = _pool(_lockdown.OPTIONAL_LAYERS)
    try:
        with pool.session(EchoHost()) as s:
            r = s.run("import sys\nsorted(m for m in sys.modules if m.startswith('skillbank'))")
    finally:
        pool.close()
    loaded = eval(r.result_repr)  # noqa: S307 - a list of str from our own code
    support = ("skillbank", "skillbank.errors", "skillbank.bounded")
    assert loaded and all(m in support or m.startswith("skillbank.sandbox") for m in loaded), loaded
    assert not any(m.startswith(("skillbank.worlds", "skillbank.agent", "skillbank.llm", "skillbank.store")) for m in loaded)


def test_read_roots_are_the_stdlib_and_allowed_packages_only():
    import sysconfig

    import skillbank

    roots = _lockdown.read_roots(("json", "math", "skillbank", "pytest"))
    purelib = os.path.realpath(sysconfig.get_paths()["purelib"])
    own = os.path.realpath(os.path.dirname(skillbank.__file__))
    assert purelib not in roots["roots"]
    assert not any(r.endswith(("site-packages", "dist-packages")) for r in roots["roots"])
    assert not any(r == own or r.startswith(own + os.sep) for r in roots["roots"])
    assert os.path.realpath(os.path.dirname(os.__file__)) in roots["stdlib"]
    assert os.path.realpath(os.path.abspath(os.__file__)) in roots["roots"]
    assert any("skillbank" in text for text in roots["refused"])
    import pytest as _pytest

    assert os.path.realpath(os.path.dirname(_pytest.__file__)) in roots["packages"]


_DROP_SYS_ADMIN = """
import ctypes, os, sys, warnings
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(24, 21, 0, 0, 0) == 0  # PR_CAPBSET_DROP CAP_SYS_ADMIN
os.execv(sys.executable, [sys.executable, "-c", sys.argv[1]])
"""
_IN_USERNS = """
import warnings
from skillbank.sandbox import SandboxPool, SandboxConfig, EchoHost
with SandboxPool(SandboxConfig(workers=1, static_check=False)) as pool:
    layers = pool.layers
    with pool.session(EchoHost()) as s:
        r = s.run("import os\\n(os.getpid(), os.getuid(), os.uname().nodename)")
print(layers.get("namespaces"), layers.get("namespaces_mode"), layers.get("uid"), r.result_repr)
"""


def test_without_cap_sys_admin_workers_use_a_user_namespace():
    """The normal-user path: no CAP_SYS_ADMIN, so the zygote goes through a user namespace."""
    proc = subprocess.run(
        [sys.executable, "-c", _DROP_SYS_ADMIN, _IN_USERNS],
        capture_output=True, text=True, timeout=60, env={**os.environ},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[:3] == ["active", "userns", "active"], proc.stdout
    assert f"(2, {_namespaces.SANDBOX_ID}, 'sandbox')" in proc.stdout


def test_doctor_report_shows_every_layer_and_the_allowlist():
    from skillbank.sandbox import _seccomp
    from skillbank.sandbox.doctor import sandbox_report

    report = sandbox_report()
    data = report.to_dict()
    assert [layer["name"] for layer in data["layers"]] == ["rlimits", "no_new_privs", "namespaces", "uid", "landlock", "seccomp"]
    assert report.missing == [] and report.warnings == ()
    assert report.lacks == ()  # Linux 6.18, Landlock ABI 7: nothing this kernel lacks
    assert data["namespaces"]["namespaces"] == ["ipc", "net", "pid", "mnt", "uts"]
    assert data["uid"]["uid"] >= _namespaces.SANDBOX_ID and data["uid"]["capabilities"] == "dropped"
    counts = data["seccomp"]["counts"]
    assert sum(counts.values()) == len(_seccomp.verdicts()) and counts["kill"] > 50
    assert "execve" in data["seccomp"]["killed"] and "read" in data["seccomp"]["allowed"]
    assert data["landlock"]["roots"] and not any("site-packages" in r for r in data["landlock"]["roots"])


def test_doctor_report_names_a_disabled_layer():
    from skillbank.sandbox.doctor import sandbox_report

    report = sandbox_report(SandboxConfig(workers=1, layers=("uid", "landlock", "seccomp")))
    status = {layer.name: layer.status for layer in report.layers}
    assert status["namespaces"] == "disabled by config" and status["seccomp"] == "active"
    assert report.warnings == ()  # switched off on purpose: no degradation warning


def test_a_missing_namespace_layer_warns_by_name():
    from skillbank.sandbox import SandboxDegradedWarning

    p = SandboxPool.__new__(SandboxPool)
    p.config = SandboxConfig()
    layers = {name: "active" for name in ("rlimits", "no_new_privs", "uid", "landlock", "seccomp")}
    layers["namespaces"] = "missing: direct: Operation not permitted; user namespace: Operation not permitted"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p._check_layers(layers)
    assert any(issubclass(w.category, SandboxDegradedWarning) and "namespaces is missing: direct" in str(w.message) for w in caught)
