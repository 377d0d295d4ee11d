# tries: stat a host file outside the read roots (Landlock does not govern stat)
# contained: seccomp refuses stat by path (only fstat of held descriptors); the sandbox uid cannot reach the file
# static: refuse
# outcome: PermissionError
import os
st = os.stat('@@CANARY@@')
print('ESCAPED: stat outside the roots, size', st.st_size)
