# tries: read a command's output with os.popen
# contained: seccomp denies process creation
# static: refuse
# outcome: PermissionError
import os
print('ESCAPED', os.popen('id').read())
