# tries: readlink and statvfs outside the read roots (paths and mounts of the host)
# contained: seccomp refuses readlink and statfs
# static: refuse
# outcome: PermissionError
import os
seen, last = [], OSError(0, 'nothing tried')
for probe in (lambda: os.readlink('/proc/self/cwd'), lambda: os.statvfs('/').f_blocks):
    try:
        seen.append(probe())
    except OSError as exc:
        last = exc
if seen:
    print('ESCAPED:', seen)
raise last
