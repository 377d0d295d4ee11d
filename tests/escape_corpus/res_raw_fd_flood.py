# tries: write straight to file descriptor 1, past the capture
# contained: fd 1 is /dev/null in the worker; nothing reaches the host
# static: refuse
# outcome: OSError
import os
n = 0
for _ in range(1000):
    n += os.write(1, b'x' * 65536)
raise OSError(f'wrote {n} bytes to /dev/null, not to the host')
