# tries: stat a host file through newfstatat with AT_EMPTY_PATH (the form glibc's fstat uses, which still takes any path)
# contained: seccomp refuses newfstatat whatever its flags; only the fd-only fstat call is allowed
# static: refuse
# outcome: PermissionError
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(256)
if libc.syscall(262, -100, b'@@CANARY@@', buf, 0x1000) == 0:
    print('ESCAPED: stat by path through AT_EMPTY_PATH')
raise OSError(ctypes.get_errno(), 'newfstatat refused')
