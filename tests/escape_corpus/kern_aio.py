# tries: legacy AIO (io_setup), kernel attack surface no worker needs
# contained: seccomp kills the worker on io_setup
# static: refuse
# outcome: killed:crash
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
ctx = ctypes.c_ulong(0)
if libc.syscall(206, 1, ctypes.byref(ctx)) == 0:
    libc.syscall(207, ctx)
    print('ESCAPED: io_setup gave an AIO context')
raise OSError(ctypes.get_errno(), 'io_setup refused')
