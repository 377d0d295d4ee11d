# tries: send a raw API frame with a path-like app name to the parent
# contained: the parent validates app and api names and replaces the worker
# static: refuse
# outcome: killed:crash
import json, socket, struct
body = json.dumps({'op': 'api', 'app': '../../etc', 'api': 'x', 'kwargs': {}}).encode()
for fd in range(3, 10):
    try:
        socket.socket(fileno=fd).sendall(struct.pack('>I', len(body)) + body)
    except OSError:
        pass
import time
time.sleep(5)
