# tries: fork a pseudo-terminal child with pty.fork
# contained: the pty device and fork are both denied
# static: refuse
# outcome: PermissionError OSError
import pty
pid, fd = pty.fork()
print('ESCAPED', pid)
