# tries: F_SETOWN on a held descriptor, aiming SIGIO (and with F_SETSIG, SIGKILL) at the pool; set back at once
# contained: seccomp allows only F_DUPFD/F_GETFD/F_SETFD/F_GETFL/F_SETFL/F_DUPFD_CLOEXEC
# static: refuse
# outcome: PermissionError
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
target = '@@PARENT_PID@@'
pid = int(target) if target.isdigit() else os.getppid()
if libc.fcntl(1, 8, pid) == 0:
    libc.fcntl(1, 8, 0)
    print('ESCAPED: F_SETOWN to pid', pid)
raise OSError(ctypes.get_errno(), 'F_SETOWN refused')
