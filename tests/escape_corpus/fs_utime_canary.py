# tries: change a host file's timestamps
# contained: seccomp denies utime-family calls; the canary's mtime is unchanged
# static: refuse
# outcome: PermissionError
import os
os.utime('@@CANARY@@', (0, 0))
print('ESCAPED')
