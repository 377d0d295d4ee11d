# tries: allocate far more memory than allowed in one go
# contained: RLIMIT_AS makes the allocation fail; the worker is replaced
# outcome: killed:memory
x = bytearray(8 * 1024 ** 3)
print('ESCAPED')
