# tries: reach the real builtins through a function's __globals__
# contained: the builtins are reached but open() still cannot read
# static: refuse
# outcome: PermissionError
f = lambda: 0
b = f.__globals__['__builtins__']
opener = b['open'] if isinstance(b, dict) else b.open
print('ESCAPED', opener('/etc/passwd').read()[:40])
