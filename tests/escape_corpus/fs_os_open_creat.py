# tries: create a file through the low-level os.open
# contained: Landlock denies it whatever the API
# static: refuse
# outcome: PermissionError
import os
fd = os.open('@@MARKER@@', os.O_CREAT | os.O_WRONLY, 0o644)
print('ESCAPED', fd)
