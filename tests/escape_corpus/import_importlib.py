# tries: import os through importlib.import_module with a computed name
# contained: the module loads but the write is denied
# static: refuse
# outcome: PermissionError
import importlib
os_mod = importlib.import_module('o' + 's')
os_mod.open('@@MARKER@@', os_mod.O_CREAT | os_mod.O_WRONLY)
print('ESCAPED')
