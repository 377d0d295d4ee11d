# tries: send a frame that is not JSON to the parent
# contained: the parent treats it as a protocol error and replaces the worker
# static: refuse
# outcome: killed:crash
import socket
for fd in range(3, 10):
    try:
        s = socket.socket(fileno=fd)
        s.sendall(b'\x00\x00\x00\x05hello')
    except OSError:
        pass
import time
time.sleep(5)
