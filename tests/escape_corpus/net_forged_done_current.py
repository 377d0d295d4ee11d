# tries: forge the result frame of the running execution (right sequence number) and run on
# contained: a result must carry the parent's per-execution token; the forgery ends the worker, not the block
# static: refuse
# outcome: killed:crash
import json, socket, time
body = json.dumps({'op': 'done', 'ok': True, 'seq': 1, 'stdout': 'ESCAPED: a forged result was accepted'}).encode()
for fd in range(3, 10):
    try:
        socket.socket(fileno=fd).sendall(len(body).to_bytes(4, 'big') + body)
    except OSError:
        pass
time.sleep(5)
