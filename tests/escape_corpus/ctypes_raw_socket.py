# tries: create a socket with a raw syscall
# contained: seccomp denies socket()
# static: refuse
# outcome: PermissionError
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
if libc.syscall(41, 2, 1, 0) >= 0:
    print('ESCAPED')
raise OSError(ctypes.get_errno(), 'socket refused')
