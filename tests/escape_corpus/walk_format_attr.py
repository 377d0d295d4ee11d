# tries: walk attributes inside str.format to leak internals, then use them
# contained: the static check refuses the template; the walk only yields text, and the follow-up read is denied
# static: refuse
# outcome: PermissionError
leak = '{0.__class__.__mro__}'.format(1)
print(leak)
cls = [c for c in object.__subclasses__() if c.__name__ == '_wrap_close'][0]
print('ESCAPED', cls.__init__.__globals__['__builtins__']['open']('/etc/passwd').read()[:40])
