# tries: call clone3/clone directly through ctypes
# contained: clone3 answers ENOSYS and clone without CLONE_THREAD EPERM
# static: refuse
# outcome: PermissionError
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
for nr, args in ((435, (None, 0)), (56, (17, 0, 0, 0, 0)), (57, ())):
    r = libc.syscall(nr, *args)
    if r == 0:
        libc.syscall(60, 0)
    if r > 0:
        print('ESCAPED', r)
raise OSError(ctypes.get_errno(), 'raw clone/fork syscalls were refused')
