# tries: run a shell command with os.system
# contained: seccomp denies process creation; the command never runs
# static: refuse
# outcome: OSError
import os
rc = os.system('touch @@MARKER@@')
if rc != 0:
    raise OSError(f'os.system could not run the command (status {rc})')
print('ESCAPED')
