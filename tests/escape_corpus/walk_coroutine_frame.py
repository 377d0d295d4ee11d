# tries: walk a coroutine's cr_frame.f_back chain into the harness
# contained: reaching the harness does not reach the host
# static: refuse
# outcome: PermissionError
async def c():
    return 1
co = c()
f = co.cr_frame
globs = f.f_globals
co.close()
os_mod = globs['__builtins__']['__import__']('os')
os_mod.mkdir('@@MARKER@@')
print('ESCAPED')
