# tries: file_getattr/file_setattr (Linux 6.17 syscalls) on a host file, writing back the attributes it read
# contained: seccomp refuses file_getattr and kills on file_setattr; the sandbox uid cannot reach the file
# static: refuse
# outcome: PermissionError killed:crash
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
attr = (ctypes.c_uint32 * 6)()  # struct file_attr: u64 xflags, u32 extsize, nextents, projid, cowextsize
if libc.syscall(468, -100, b'@@CANARY@@', attr, 24, 0) == 0:
    if libc.syscall(469, -100, b'@@CANARY@@', attr, 24, 0) == 0:
        print('ESCAPED: file_setattr on a host file, xflags', attr[0])
raise OSError(ctypes.get_errno(), 'file_getattr/file_setattr refused')
