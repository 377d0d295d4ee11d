# tries: start a process with os.posix_spawn
# contained: seccomp denies clone and execve
# static: refuse
# outcome: PermissionError
import os
os.posix_spawn('/bin/touch', ['touch', '@@MARKER@@'], {})
print('ESCAPED')
