# tries: SIOCGIFCONF on the inherited socket (the host's interfaces and addresses: the socket lives in the host's network namespace)
# contained: seccomp refuses every socket ioctl; a network namespace does not help, the socket was made outside it
# static: refuse
# outcome: PermissionError OSError
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(40 * 32)
class IfConf(ctypes.Structure):
    _fields_ = [('len', ctypes.c_int), ('buf', ctypes.c_void_p)]
conf = IfConf(len(buf), ctypes.cast(buf, ctypes.c_void_p))
err = errno.EBADF
for fd in range(3, 32):
    if libc.ioctl(fd, 0x8912, ctypes.byref(conf)) == 0 and conf.len > 0:
        names = [buf.raw[i:i + 16].split(b'\0')[0].decode() for i in range(0, conf.len, 40)]
        print('ESCAPED: interfaces', names)
        break
    err = ctypes.get_errno() if ctypes.get_errno() != errno.EBADF else err
raise OSError(err, 'interface ioctls refused')
