# tries: write to shared memory under /dev/shm
# contained: Landlock denies the write
# static: refuse
# outcome: PermissionError FileNotFoundError
open('/dev/shm/skillbank-escape', 'w').write('x')
print('ESCAPED')
