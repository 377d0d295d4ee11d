# tries: list /root for keys and credentials
# contained: Landlock denies it
# static: refuse
# outcome: PermissionError
import os
print('ESCAPED', os.listdir('/root/.ssh' if os.path.exists('/root/.ssh') else '/root'))
