# tries: create a directory on the host
# contained: Landlock denies making directories
# static: refuse
# outcome: PermissionError
import os
os.mkdir('@@MARKER@@')
print('ESCAPED')
