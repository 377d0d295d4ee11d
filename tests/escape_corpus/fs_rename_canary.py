# tries: move a host file away with os.rename
# contained: Landlock denies the rename
# static: refuse
# outcome: PermissionError
import os
os.rename('@@CANARY@@', '@@MARKER@@')
print('ESCAPED')
