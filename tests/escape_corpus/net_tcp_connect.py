# tries: open a TCP connection to the host
# contained: seccomp denies socket()
# static: refuse
# outcome: PermissionError
import socket
s = socket.socket()
s.connect(('127.0.0.1', 22))
print('ESCAPED')
