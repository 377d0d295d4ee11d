# tries: FS_IOC_GETFLAGS then FS_IOC_SETFLAGS (same flags, so success changes nothing) on a host file opened read-only
# contained: seccomp allows only TCGETS/FIONBIO/FIOCLEX/FIONCLEX ioctls; Landlock refuses the open; the sandbox uid cannot reach the file
# static: refuse
# outcome: PermissionError
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open('@@CANARY@@', os.O_RDONLY)
flags = ctypes.c_long(0)
if libc.ioctl(fd, 0x80086601, ctypes.byref(flags)) == 0 and libc.ioctl(fd, 0x40086602, ctypes.byref(flags)) == 0:
    print('ESCAPED: FS_IOC_SETFLAGS on a read-only descriptor, flags', flags.value)
raise OSError(ctypes.get_errno(), 'file-flag ioctls refused')
