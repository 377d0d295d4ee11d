"""Host-side checks that a mutation audit found no test would notice losing.

Each test here fails when the check it names is removed or weakened: the frame size
limit, the trusted-frame bit refused from a worker, an execution's deadline bounded from
above, the done token's value, the stdout cap counted in bytes, the worker's hard
RLIMIT_CPU, and the format-field rule on private names.
"""

from __future__ import annotations

import warnings

import pytest
from test_sandbox_host import FORGE_VALID_DONE

from skillbank.sandbox import EchoHost, SandboxConfig, SandboxPool
from skillbank.sandbox.static import find_problems

# Write raw bytes to the worker's end of the socketpair (the static check is off).
WRITE_RAW = """
import socket
def write_raw(data):
    for fd in range(3, 10):
        try:
            socket.socket(fileno=fd).sendall(data)
        except OSError:
            pass
"""


@pytest.fixture(scope="module")
def raw():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with SandboxPool(SandboxConfig(workers=1, static_check=False, timeout_s=1.0)) as p:
            yield p


def test_a_frame_over_the_size_limit_ends_the_worker_before_it_is_read(raw):
    with raw.session(EchoHost(), task_id="big") as s:
        r = s.run(WRITE_RAW + "write_raw((1 << 29).to_bytes(4, 'big') + b'{')\nimport time\ntime.sleep(5)")
    assert r.killed == "crash" and "exceeds the limit" in r.error_message


def test_a_worker_cannot_send_a_trusted_marshal_frame(raw):
    # Only the parent may send marshal frames (the length's top bit): marshal must never
    # read a worker's bytes. Accepted, this frame would be an API call.
    payload = "import marshal\nbody = marshal.dumps({'op': 'api', 'app': 'echo', 'api': 'echo', 'kwargs': {'x': 1}})\n"
    payload += "write_raw((len(body) | 0x80000000).to_bytes(4, 'big') + body)\nimport time\ntime.sleep(5)"
    with raw.session(EchoHost(), task_id="trusted") as s:
        r = s.run(WRITE_RAW + payload)
    assert r.killed == "crash" and r.api_calls == ()


def test_an_execution_ends_soon_after_its_deadline(raw):
    with raw.session(EchoHost(), task_id="deadline") as s:
        r = s.run("while True:\n    pass")
    assert r.killed == "timeout"
    assert 1.0 <= r.duration_s < 3.5  # bounded from above too: the parent does not wait on


def test_a_done_frame_with_the_wrong_token_value_is_refused(raw):
    wrong = FORGE_VALID_DONE.replace("'token': harness['token']", "'token': harness['token'] + 1")
    assert wrong != FORGE_VALID_DONE
    with raw.session(EchoHost(), task_id="token") as s:
        r = s.run(wrong + "import time\ntime.sleep(5)")
    assert r.killed == "crash" and "token" in r.error_message and "forged" not in r.stdout


def test_the_parents_stdout_cap_counts_bytes_not_characters():
    limit = 4096
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with SandboxPool(SandboxConfig(workers=1, static_check=False, stdout_limit_bytes=limit)) as p, \
                p.session(EchoHost(), task_id="bytes") as s:
            # The worker lifts its own cap; 3,000 three-byte characters are 9,000 bytes.
            r = s.run("import sys\nsys.stdout.limit = 10 ** 9\nprint('\u20ac' * 3000)")
    assert r.stdout_truncated and len(r.stdout.split("\n…")[0].encode()) <= limit


def test_the_worker_cpu_limit_is_a_hard_limit(raw):
    with raw.session(EchoHost(), task_id="cpu") as s:
        r = s.run("import resource\nresource.getrlimit(resource.RLIMIT_CPU)")
    assert r.result_repr == "(60, 60)"  # a soft limit alone the code could raise again


@pytest.mark.parametrize("template", ["'{0._secret}'.format(x)", "'{x._cache}'.format(x=1)", "'{0[0]._y}'.format([1])"])
def test_format_fields_reaching_private_names_are_refused(template):
    assert any("format field" in p for p in find_problems(template))
