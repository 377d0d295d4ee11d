# tries: write to its own memory through /proc/self/mem
# contained: /proc is outside the allowed tree
# static: refuse
# outcome: PermissionError
open('/proc/self/mem', 'r+b')
print('ESCAPED')
