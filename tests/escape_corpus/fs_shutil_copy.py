# tries: copy /etc/passwd into the temp directory
# contained: Landlock denies both the read and the write
# static: refuse
# outcome: PermissionError
import shutil
shutil.copy('/etc/passwd', '@@MARKER@@')
print('ESCAPED')
