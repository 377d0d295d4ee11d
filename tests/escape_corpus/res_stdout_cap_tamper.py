# tries: raise the worker's own stdout cap and print a megabyte
# contained: the parent cuts captured output to its limit, whatever the worker sends
# static: refuse
# outcome: truncated
import sys
sys.stdout.limit = 1 << 40
print('x' * 1_000_000 + 'ESCAPED')
