# tries: connect to a Unix socket (e.g. a container runtime's)
# contained: seccomp denies socket()
# static: refuse
# outcome: PermissionError
import socket
s = socket.socket(socket.AF_UNIX)
s.connect('/run/docker.sock')
print('ESCAPED')
