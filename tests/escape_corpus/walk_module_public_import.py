# tries: reach sys through an allowed module's own public imports (typing.sys), with no underscore anywhere
# contained: with the static check, refused (an attribute named after an internal module) or, spelled past it, module views without non-allowed submodules; without it the kernel denies the write
# outcome: StaticCheckError AttributeError PermissionError OSError
import typing
modules = typing.sys.modules
fd = modules['os'].open('@@MARKER@@', modules['os'].O_CREAT | modules['os'].O_WRONLY)
print('ESCAPED')
