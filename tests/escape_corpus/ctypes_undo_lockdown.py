# tries: turn no_new_privs off and raise the address-space limit
# contained: no_new_privs is one-way and capabilities are dropped
# static: refuse
# outcome: ValueError OSError
import ctypes, resource
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(38, 0, 0, 0, 0)
resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
print('ESCAPED')
