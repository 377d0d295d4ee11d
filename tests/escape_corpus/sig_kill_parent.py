# tries: SIGKILL the parent process
# contained: seccomp allows kill() only on the worker's own pid
# static: refuse
# outcome: PermissionError
import os, signal
os.kill(os.getppid(), signal.SIGKILL)
print('ESCAPED')
