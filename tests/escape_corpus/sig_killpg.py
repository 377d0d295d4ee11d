# tries: signal the whole process group
# contained: seccomp denies kill with a negative pid
# static: refuse
# outcome: PermissionError
import os, signal
os.killpg(os.getpgid(0), signal.SIGTERM)
print('ESCAPED')
