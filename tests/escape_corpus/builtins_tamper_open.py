# tries: replace builtins.open with a shim that 'succeeds', then read
# contained: tampering only affects this task's copy; the real read is still denied
# static: refuse
# outcome: PermissionError
import builtins
real_open = builtins.open
builtins.open = lambda *a, **k: real_open(*a, **k)
print('ESCAPED', open('/etc/passwd').read()[:40])
