# tries: send the parent a frame flagged as trusted marshal data (the parent-to-worker encoding), hoping the parent unmarshals attacker bytes
# contained: only a worker's channel accepts marshal frames; the parent reads the flag as an oversized frame and replaces the worker
# static: refuse
# outcome: killed:crash
import marshal
import socket
import struct
body = marshal.dumps({"op": "done", "ok": True, "seq": 1, "stdout": "ESCAPED"})
for fd in range(3, 10):
    try:
        s = socket.socket(fileno=fd)
        s.sendall(struct.pack(">I", len(body) | 0x80000000) + body)
    except OSError:
        pass
import time
time.sleep(5)
