# tries: delete a host file with os.remove
# contained: Landlock denies removing files; the canary still exists
# static: refuse
# outcome: PermissionError
import os
os.remove('@@CANARY@@')
print('ESCAPED')
