# tries: spawn many threads that spin
# contained: threads stay inside the worker and die with it at the timeout
# static: refuse
# outcome: killed:timeout RuntimeError
import threading
def spin():
    while True:
        pass
for _ in range(50):
    threading.Thread(target=spin, daemon=True).start()
while True:
    pass
