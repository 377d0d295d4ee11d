# tries: create a file in the host's temp directory
# contained: Landlock denies every write; the marker file never appears
# static: refuse
# outcome: PermissionError
with open('@@MARKER@@', 'w') as f:
    f.write('x')
print('ESCAPED')
