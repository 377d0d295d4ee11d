# tries: recurse without end
# contained: Python's recursion limit raises RecursionError
# outcome: RecursionError
def f(n):
    return f(n + 1)
f(0)
