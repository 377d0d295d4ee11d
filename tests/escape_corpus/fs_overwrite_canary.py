# tries: overwrite an existing host file (the canary)
# contained: Landlock denies writing; the canary's hash is unchanged
# static: refuse
# outcome: PermissionError
open('@@CANARY@@', 'w').write('pwned')
print('ESCAPED')
