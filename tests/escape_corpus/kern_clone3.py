# tries: a real clone3 with a valid clone_args (flags 0, exit signal SIGCHLD): a new process whose flags BPF cannot read
# contained: seccomp answers clone3 with ENOSYS (glibc falls back to clone, whose flags are checked)
# static: refuse
# outcome: OSError
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
args = (ctypes.c_uint64 * 11)()
args[4] = 17  # exit_signal = SIGCHLD
pid = libc.syscall(435, args, 88)
if pid == 0:
    libc.syscall(60, 0)  # the child leaves at once
if pid > 0:
    print('ESCAPED: clone3 created process', pid)
raise OSError(ctypes.get_errno(), 'clone3 refused')
