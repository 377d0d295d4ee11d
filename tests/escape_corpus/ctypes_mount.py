# tries: mount a tmpfs
# contained: seccomp kills the worker (SIGSYS) on mount
# static: refuse
# outcome: PermissionError killed:crash
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
if libc.mount(b'none', b'/tmp', b'tmpfs', 0, None) == 0:
    print('ESCAPED')
raise OSError(ctypes.get_errno(), 'mount refused')
