# tries: a System V message queue and semaphore set (left behind for a later task), removed again at once
# contained: seccomp kills the worker on msgget/semget
# static: refuse
# outcome: killed:crash
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
q = libc.syscall(68, 0, 0o1600)
if q >= 0:
    libc.syscall(71, q, 0, None)
    print('ESCAPED: msgget gave queue', q)
s = libc.syscall(64, 0, 1, 0o1600)
if s >= 0:
    libc.syscall(66, s, 0, 0)
    print('ESCAPED: semget gave set', s)
raise OSError(ctypes.get_errno(), 'System V IPC refused')
