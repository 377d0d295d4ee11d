# tries: append to an existing host file
# contained: Landlock denies writing; the canary is unchanged
# static: refuse
# outcome: PermissionError
open('@@CANARY@@', 'a').write('pwned')
print('ESCAPED')
