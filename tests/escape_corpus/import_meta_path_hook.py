# tries: install an import hook, then import posix directly
# contained: hooks change nothing the kernel enforces
# static: refuse
# outcome: PermissionError ModuleNotFoundError
import sys, importlib.abc
class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, *a, **k):
        return None
sys.meta_path.insert(0, Finder())
import posix
posix.mkdir('@@MARKER@@')
print('ESCAPED')
