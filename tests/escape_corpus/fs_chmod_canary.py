# tries: change a host file's mode with os.chmod
# contained: seccomp denies chmod-family calls (Landlock does not cover metadata)
# static: refuse
# outcome: PermissionError
import os
os.chmod('@@CANARY@@', 0o777)
print('ESCAPED')
