# tries: signal the parent through a pidfd
# contained: seccomp denies pidfd_open
# static: refuse
# outcome: PermissionError
import os, signal
fd = os.pidfd_open(os.getppid())
signal.pidfd_send_signal(fd, signal.SIGKILL)
print('ESCAPED')
