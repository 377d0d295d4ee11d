# tries: read /etc/shadow with open()
# contained: Landlock denies the read
# static: refuse
# outcome: PermissionError
print('ESCAPED', open('/etc/shadow').read()[:40])
