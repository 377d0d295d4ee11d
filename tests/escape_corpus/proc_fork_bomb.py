# tries: fork in an endless loop
# contained: the first fork fails; no process is created
# static: refuse
# outcome: PermissionError
import os
while True:
    os.fork()
