# tries: create a user namespace with unshare
# contained: seccomp denies unshare
# static: refuse
# outcome: PermissionError
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000) == 0:
    print('ESCAPED')
raise OSError(ctypes.get_errno(), 'unshare refused')
