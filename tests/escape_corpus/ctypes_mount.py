# tries: mount a tmpfs
# contained: seccomp denies mount
# static: refuse
# outcome: PermissionError
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
if libc.mount(b'none', b'/tmp', b'tmpfs', 0, None) == 0:
    print('ESCAPED')
raise OSError(ctypes.get_errno(), 'mount refused')
