# tries: list the host's root directory
# contained: Landlock denies reading directories outside the installation
# static: refuse
# outcome: PermissionError
import os
print('ESCAPED', os.listdir('/'))
