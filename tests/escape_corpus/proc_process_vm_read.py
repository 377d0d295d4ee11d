# tries: read the parent's memory with process_vm_readv
# contained: seccomp kills the worker (SIGSYS) on it
# static: refuse
# outcome: PermissionError killed:crash
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(16)
class iov(ctypes.Structure):
    _fields_ = [('b', ctypes.c_void_p), ('n', ctypes.c_size_t)]
l = iov(ctypes.addressof(buf), 16)
r = iov(0x400000, 16)
if libc.process_vm_readv(os.getppid(), ctypes.byref(l), 1, ctypes.byref(r), 1, 0) > 0:
    print('ESCAPED')
raise OSError(ctypes.get_errno(), 'process_vm_readv refused')
