# tries: smuggle code past the static check with exec/eval/compile
# contained: refused statically; at runtime the smuggled code meets the kernel
# static: refuse
# outcome: PermissionError
code = compile("open('@@MARKER@@', 'w')", 'x', 'exec')
exec(code)
print('ESCAPED')
