# tries: read the parent's environment through /proc
# contained: /proc is outside the allowed tree
# static: refuse
# outcome: PermissionError
import os
print('ESCAPED', open(f'/proc/{os.getppid()}/environ', 'rb').read()[:40])
