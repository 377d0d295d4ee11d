# tries: run a program with subprocess.run
# contained: seccomp denies clone/vfork/execve
# static: refuse
# outcome: PermissionError
import subprocess
subprocess.run(['touch', '@@MARKER@@'])
print('ESCAPED')
