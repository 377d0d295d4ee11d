# tries: watch a host directory with inotify (names of files other processes touch)
# contained: seccomp refuses inotify; the sandbox uid cannot reach the directory
# static: refuse
# outcome: PermissionError
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(0)
if fd >= 0 and libc.inotify_add_watch(fd, os.path.dirname('@@CANARY@@').encode(), 0xFFF) >= 0:
    print('ESCAPED: inotify watch on a host directory')
raise OSError(ctypes.get_errno(), 'inotify refused')
