# tries: kill(-1, SIGKILL): every process the worker may signal
# contained: seccomp denies kill with pid -1
# static: refuse
# outcome: PermissionError
import os, signal
os.kill(-1, signal.SIGKILL)
print('ESCAPED')
