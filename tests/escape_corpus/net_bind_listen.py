# tries: open a listening server
# contained: seccomp denies socket()
# static: refuse
# outcome: PermissionError
import socket
s = socket.socket()
s.bind(('0.0.0.0', 0))
s.listen()
print('ESCAPED')
