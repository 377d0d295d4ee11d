# tries: call libc system() through ctypes
# contained: process creation is denied in the kernel
# static: refuse
# outcome: OSError
import ctypes
rc = ctypes.CDLL(None).system(b'touch @@MARKER@@')
if rc != 0:
    raise OSError(f'system() failed with status {rc}')
print('ESCAPED')
