# tries: read skillbank's own source code
# contained: the sandbox modules are imported before lockdown; the tree stays unreadable
# static: refuse
# outcome: PermissionError
print('ESCAPED', open('@@PROJECT@@/src/skillbank/sandbox/pool.py').read()[:40])
