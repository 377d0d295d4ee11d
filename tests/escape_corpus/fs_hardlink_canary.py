# tries: hard-link a host file into another name
# contained: Landlock denies making files
# static: refuse
# outcome: PermissionError
import os
os.link('@@CANARY@@', '@@MARKER@@')
print('ESCAPED')
