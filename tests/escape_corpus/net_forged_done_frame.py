# tries: forge a result frame for another execution
# contained: the parent checks sequence numbers and replaces the worker
# static: refuse
# outcome: killed:crash
import json, socket, struct
body = json.dumps({'op': 'done', 'ok': True, 'seq': 999, 'stdout': 'ESCAPED'}).encode()
for fd in range(3, 10):
    try:
        socket.socket(fileno=fd).sendall(struct.pack('>I', len(body)) + body)
    except OSError:
        pass
import time
time.sleep(5)
