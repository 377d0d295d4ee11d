# tries: replace the worker with /bin/sh
# contained: seccomp denies execve
# static: refuse
# outcome: PermissionError
import os
os.execv('/bin/sh', ['sh', '-c', 'touch @@MARKER@@'])
