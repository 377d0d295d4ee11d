# tries: call __import__ directly
# contained: the static check refuses it; the kernel denies the socket
# static: refuse
# outcome: PermissionError
s = __import__('socket').socket()
print('ESCAPED')
