# tries: unpickle a payload whose __reduce__ calls os.system
# contained: the payload runs but cannot start a process
# static: refuse
# outcome: OSError PermissionError
import pickle, os
class P:
    def __reduce__(self):
        return (os.system, ('touch @@MARKER@@',))
rc = pickle.loads(pickle.dumps(P()))
if rc != 0:
    raise OSError(f'os.system failed with status {rc}')
print('ESCAPED')
