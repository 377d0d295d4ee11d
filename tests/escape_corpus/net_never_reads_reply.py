# tries: send API calls with large answers and never read the replies, so the parent blocks in sendall
# contained: every send of the parent has the execution's deadline; the worker is killed on time
# static: refuse
# outcome: killed:timeout
import json, socket, time
frame = json.dumps({'op': 'api', 'app': 'echo', 'api': 'echo', 'kwargs': {'x': 'y' * 200000}}).encode()
frame = len(frame).to_bytes(4, 'big') + frame
for fd in range(3, 10):
    try:
        s = socket.socket(fileno=fd)
        s.getpeername()
    except OSError:
        continue
    for _ in range(40):  # 8 MB of answers: far more than the socket buffer holds
        s.sendall(frame)
time.sleep(30)
