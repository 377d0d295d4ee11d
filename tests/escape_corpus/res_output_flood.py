# tries: print hundreds of megabytes
# contained: output beyond the limit is dropped and marked truncated
# outcome: truncated
line = 'x' * 10000
for _ in range(20000):
    print(line)
