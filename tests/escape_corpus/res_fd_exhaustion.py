# tries: open descriptors until the limit
# contained: RLIMIT_NOFILE stops it
# static: refuse
# outcome: OSError
import os
fds = []
while True:
    fds.append(os.dup(0))
