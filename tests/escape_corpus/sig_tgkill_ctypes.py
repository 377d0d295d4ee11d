# tries: tgkill the parent's main thread through ctypes
# contained: seccomp checks tgkill's target pid
# static: refuse
# outcome: PermissionError
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
if libc.syscall(234, os.getppid(), os.getppid(), 9) == 0:
    print('ESCAPED')
raise OSError(ctypes.get_errno(), 'tgkill refused')
