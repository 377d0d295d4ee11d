# tries: corrupt the skill library database file
# contained: Landlock denies the write; the file is unchanged
# static: refuse
# outcome: PermissionError
open('@@LIBRARY@@', 'r+b').write(b'garbage')
print('ESCAPED')
