# tries: read /etc/passwd with open()
# contained: Landlock denies reading outside the Python installation; nothing is printed
# static: refuse
# outcome: PermissionError
data = open('/etc/passwd').read()
print('ESCAPED', data[:40])
