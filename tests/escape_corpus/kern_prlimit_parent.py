# tries: prlimit64 on the pool's process (the attack lowered its RLIMIT_CPU; this sets RLIMIT_NOFILE to its current value, so success changes nothing)
# contained: seccomp allows prlimit64 only on the worker itself; the PID namespace hides the pool; the sandbox uid may not touch root's limits
# static: refuse
# outcome: PermissionError ProcessLookupError
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
target = '@@PARENT_PID@@'
pid = int(target) if target.isdigit() else os.getppid()
old = (ctypes.c_ulong * 2)()
if libc.syscall(302, pid, 7, None, old) == 0 and libc.syscall(302, pid, 7, old, None) == 0:
    print('ESCAPED: prlimit64 on pid', pid, 'nofile', list(old))
raise OSError(ctypes.get_errno(), f'prlimit64 on pid {pid} refused')
