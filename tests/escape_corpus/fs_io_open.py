# tries: read /etc/hostname through io.open instead of the open builtin
# contained: Landlock denies the read
# static: refuse
# outcome: PermissionError
import io
print('ESCAPED', io.open('/etc/hostname').read())
