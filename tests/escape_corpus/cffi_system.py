# tries: call system() through cffi (a C FFI installed with the dev extra)
# contained: cffi cannot load in the worker (its shared libraries are outside the read roots) or the kernel denies the process
# static: refuse
# outcome: ImportError ModuleNotFoundError OSError PermissionError
import cffi
ffi = cffi.FFI()
ffi.cdef('int system(const char *);')
rc = ffi.dlopen(None).system(b'touch @@MARKER@@')
if rc != 0:
    raise OSError(f'system() failed with status {rc}')
print('ESCAPED')
