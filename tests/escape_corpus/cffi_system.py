# tries: call system() through cffi
# contained: cffi is absent or the kernel denies the process
# static: refuse
# outcome: ModuleNotFoundError OSError PermissionError
import cffi
ffi = cffi.FFI()
ffi.cdef('int system(const char *);')
rc = ffi.dlopen(None).system(b'touch @@MARKER@@')
if rc != 0:
    raise OSError(f'system() failed with status {rc}')
print('ESCAPED')
