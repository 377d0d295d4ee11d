# tries: walk subclasses to os._wrap_close and call os.system from its globals
# contained: the command cannot start
# static: refuse
# outcome: OSError
cls = [c for c in object.__subclasses__() if c.__name__ == '_wrap_close'][0]
system = cls.__init__.__globals__['system']
rc = system('touch @@MARKER@@')
if rc != 0:
    raise OSError(f'os.system failed with status {rc}')
print('ESCAPED')
