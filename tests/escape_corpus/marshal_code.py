# tries: build a code object with marshal and run it as a function
# contained: the code runs with the same kernel limits
# static: refuse
# outcome: PermissionError
import marshal, types
src = compile("open('/etc/passwd').read()", 'm', 'eval')
fn = types.FunctionType(marshal.loads(marshal.dumps(src)), {})
print('ESCAPED', fn()[:40])
