# tries: walk object.__subclasses__() to subprocess.Popen and run a command
# contained: the static check refuses dunders; Popen cannot create the process
# static: refuse
# outcome: PermissionError IndexError
import subprocess
popen = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen'][0]
popen(['touch', '@@MARKER@@']).wait()
print('ESCAPED')
