# tries: find the channel to the parent and send a frame claiming 4 GiB
# contained: the parent refuses oversized frames and replaces the worker; the parent is unharmed
# static: refuse
# outcome: killed:crash
import socket
for fd in range(3, 10):
    try:
        s = socket.socket(fileno=fd)
        s.sendall(b'\xff\xff\xff\xff')
    except OSError:
        pass
import time
time.sleep(5)
