# tries: read /etc/passwd through pathlib
# contained: Landlock denies the read
# static: refuse
# outcome: PermissionError
import pathlib
print('ESCAPED', pathlib.Path('/etc/passwd').read_text()[:40])
