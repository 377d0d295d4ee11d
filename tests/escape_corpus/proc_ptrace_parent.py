# tries: attach to the parent with ptrace
# contained: seccomp kills the worker (SIGSYS) on ptrace
# static: refuse
# outcome: PermissionError killed:crash
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
if libc.ptrace(16, os.getppid(), 0, 0) == 0:
    print('ESCAPED')
raise OSError(ctypes.get_errno(), 'ptrace refused')
