# tries: raise the recursion limit and recurse until the C stack overflows
# contained: the worker may die; the parent reports it and replaces it
# static: refuse
# outcome: RecursionError MemoryError killed:crash killed:memory killed:timeout
import sys
sys.setrecursionlimit(10 ** 7)
def f(n):
    return f(n + 1)
f(0)
