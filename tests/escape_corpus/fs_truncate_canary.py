# tries: truncate a host file to zero bytes
# contained: Landlock (truncate right) denies it; the canary is unchanged
# static: refuse
# outcome: PermissionError
import os
os.truncate('@@CANARY@@', 0)
print('ESCAPED')
