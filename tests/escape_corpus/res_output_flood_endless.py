# tries: print forever
# contained: output is capped and the wall-clock timeout ends the run
# outcome: killed:timeout
while True:
    print('flood' * 1000)
