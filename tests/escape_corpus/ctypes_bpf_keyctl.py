# tries: load BPF and touch the kernel keyring
# contained: seccomp kills the worker (SIGSYS) on bpf and keyctl
# static: refuse
# outcome: PermissionError killed:crash
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
if libc.syscall(321, 0, None, 0) >= 0 or libc.syscall(250, 0, -3, 0) >= 0:
    print('ESCAPED')
raise OSError(ctypes.get_errno(), 'bpf/keyctl refused')
