# tries: walk a generator's gi_frame to the worker's globals
# contained: the frames are reachable but the kernel still denies the read
# static: refuse
# outcome: PermissionError
def g():
    yield 1
gen = g()
frame = gen.gi_frame
globs = frame.f_globals
b = globs['__builtins__']
opener = b['open'] if isinstance(b, dict) else b.open
print('ESCAPED', opener('/etc/shadow').read())
