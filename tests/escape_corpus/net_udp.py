# tries: send a UDP datagram
# contained: seccomp denies socket()
# static: refuse
# outcome: PermissionError
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b'x', ('127.0.0.1', 53))
print('ESCAPED')
