# tries: reach sys.modules through a one-underscore module attribute (collections._sys) and run a command
# contained: the static check refuses private attributes; without it the kernel denies the process
# static: refuse
# outcome: OSError PermissionError
import collections
os_module = collections._sys.modules['os']
rc = os_module.system('touch @@MARKER@@')
if rc != 0:
    raise OSError(f'system() failed with status {rc}')
print('ESCAPED')
