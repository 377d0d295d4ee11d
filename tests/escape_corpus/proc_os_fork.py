# tries: fork the worker
# contained: seccomp denies fork (clone without CLONE_THREAD)
# static: refuse
# outcome: PermissionError
import os
pid = os.fork()
if pid == 0:
    os._exit(0)
print('ESCAPED', pid)
