# tries: send the parent a frame nested 200,000 levels deep (RecursionError in a JSON decoder)
# contained: the parent measures nesting before decoding, refuses the frame and replaces the worker
# static: refuse
# outcome: killed:crash
import socket
body = b'{"op":"api","app":"echo","api":"echo","kwargs":{"x":' + b'[' * 200000 + b']' * 200000 + b'}}'
for fd in range(3, 10):
    try:
        socket.socket(fileno=fd).sendall(len(body).to_bytes(4, 'big') + body)
    except OSError:
        pass
import time
time.sleep(5)
