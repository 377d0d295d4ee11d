# tries: create a temp file with tempfile.mkstemp
# contained: no writable directory exists for the worker
# static: refuse
# outcome: FileNotFoundError PermissionError
import tempfile
fd, path = tempfile.mkstemp()
print('ESCAPED', path)
