# tries: arm SIGALRM against itself
# contained: seccomp refuses alarm (EPERM), or only the worker dies; the session moves on
# static: refuse
# outcome: killed:crash killed:timeout
import signal, time
signal.alarm(1)
time.sleep(5)
