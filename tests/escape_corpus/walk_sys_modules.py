# tries: take os out of sys.modules without importing it
# contained: os is reachable but its system() cannot start a process
# static: refuse
# outcome: OSError
import sys
rc = sys.modules['os'].system('touch @@MARKER@@')
if rc != 0:
    raise OSError(f'os.system failed with status {rc}')
print('ESCAPED')
