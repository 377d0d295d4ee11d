# tries: use _ctypes directly to call fork
# contained: fork is denied in the kernel whatever the binding
# static: refuse
# outcome: PermissionError
import _ctypes, ctypes
libc = ctypes.CDLL(None, use_errno=True)
fork = ctypes.CFUNCTYPE(ctypes.c_int, use_errno=True)(_ctypes.dlsym(libc._handle, 'fork'))
if fork() >= 0:
    print('ESCAPED')
raise OSError(ctypes.get_errno(), 'fork refused')
