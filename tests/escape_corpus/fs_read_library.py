# tries: read the skill library database file
# contained: Landlock denies the read
# static: refuse
# outcome: PermissionError
print('ESCAPED', open('@@LIBRARY@@', 'rb').read()[:40])
