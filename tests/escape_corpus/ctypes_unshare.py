# tries: create a user namespace with unshare
# contained: seccomp kills the worker (SIGSYS) on unshare
# static: refuse
# outcome: PermissionError killed:crash
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000) == 0:
    print('ESCAPED')
raise OSError(ctypes.get_errno(), 'unshare refused')
