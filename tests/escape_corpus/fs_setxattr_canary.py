# tries: attach an extended attribute to a host file
# contained: seccomp denies setxattr-family calls
# static: refuse
# outcome: PermissionError
import os
os.setxattr('@@CANARY@@', 'user.pwned', b'1')
print('ESCAPED')
