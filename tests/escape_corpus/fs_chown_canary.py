# tries: change a host file's owner
# contained: seccomp denies chown-family calls
# static: refuse
# outcome: PermissionError
import os
os.chown('@@CANARY@@', 65534, 65534)
print('ESCAPED')
