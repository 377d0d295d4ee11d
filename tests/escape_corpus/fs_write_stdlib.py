# tries: overwrite a stdlib module
# contained: the stdlib is read-only under Landlock
# static: refuse
# outcome: PermissionError
import json
open(json.__file__, 'a').write('# pwned')
print('ESCAPED')
