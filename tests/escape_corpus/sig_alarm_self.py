# tries: arm SIGALRM against itself
# contained: only the worker dies; the session reports a crash and moves on
# static: refuse
# outcome: killed:crash
import signal, time
signal.alarm(1)
time.sleep(5)
