# tries: walk attributes through str.format_map
# contained: refused statically; at runtime it leaks only a repr and the read is denied
# static: refuse
# outcome: PermissionError
def f():
    pass
leak = '{x.__globals__}'.format_map({'x': f})
print(len(leak))
import os
print('ESCAPED', os.listdir('/etc'))
