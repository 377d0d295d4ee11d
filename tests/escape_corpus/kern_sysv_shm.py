# tries: create a System V shared-memory segment (objects that outlive the worker and pass data between tasks); removes it again at once
# contained: seccomp kills the worker on shmget; an IPC namespace would keep the segment private and dead with the worker
# static: refuse
# outcome: killed:crash
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
shmid = libc.syscall(29, 0, 4096, 0o1600)
if shmid >= 0:
    libc.syscall(31, shmid, 0, None)  # IPC_RMID
    print('ESCAPED: shmget gave segment', shmid)
raise OSError(ctypes.get_errno(), 'shmget refused')
