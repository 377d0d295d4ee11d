# tries: grow memory step by step
# contained: RLIMIT_AS stops it; the worker is replaced
# outcome: killed:memory
chunks = []
while True:
    chunks.append(bytearray(16 * 1024 ** 2))
