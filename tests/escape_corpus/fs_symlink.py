# tries: plant a symlink to /etc/passwd
# contained: Landlock denies making symlinks
# static: refuse
# outcome: PermissionError
import os
os.symlink('/etc/passwd', '@@MARKER@@')
print('ESCAPED')
