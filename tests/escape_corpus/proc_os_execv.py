# tries: replace the worker with /bin/sh
# contained: seccomp kills the worker (SIGSYS) on execve
# static: refuse
# outcome: PermissionError killed:crash
import os
os.execv('/bin/sh', ['sh', '-c', 'touch @@MARKER@@'])
