# tries: plant a .pth file in site-packages (code execution in every later Python)
# contained: the Python installation is read-only under Landlock
# static: refuse
# install: wheel
# outcome: PermissionError
import sysconfig
open(sysconfig.get_paths()['purelib'] + '/skillbank_escape.pth', 'w').write('import os')
print('ESCAPED')
