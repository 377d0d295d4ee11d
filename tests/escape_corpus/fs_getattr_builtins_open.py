# tries: reach open() through __builtins__ with a computed name
# contained: the static check refuses __builtins__; Landlock denies the read
# static: refuse
# outcome: PermissionError
f = __builtins__['op' + 'en']
print('ESCAPED', f('/etc/passwd').read()[:40])
