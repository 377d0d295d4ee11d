# tries: set up io_uring (which bypasses seccomp for its operations)
# contained: seccomp kills the worker (SIGSYS) on io_uring_setup
# static: refuse
# outcome: PermissionError killed:crash
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
if libc.syscall(425, 8, params) >= 0:
    print('ESCAPED')
raise OSError(ctypes.get_errno(), 'io_uring refused')
