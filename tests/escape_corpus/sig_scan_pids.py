# tries: signal every low pid, looking for the pool process
# contained: every kill to another pid is denied
# static: refuse
# outcome: PermissionError
import os, signal
errors = 0
for pid in range(1, 4000):
    if pid == os.getpid():
        continue
    try:
        os.kill(pid, signal.SIGTERM)
        print('ESCAPED', pid)
    except ProcessLookupError:
        pass
    except PermissionError:
        errors += 1
raise PermissionError(f'{errors} signals refused')
