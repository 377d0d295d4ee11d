# tries: create new socket pairs
# contained: seccomp denies socketpair()
# static: refuse
# outcome: PermissionError
import socket
a, b = socket.socketpair()
print('ESCAPED')
