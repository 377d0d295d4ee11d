# tries: spin the CPU forever
# contained: the parent's wall-clock timeout kills and replaces the worker
# outcome: killed:timeout
while True:
    pass
