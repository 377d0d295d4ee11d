# tries: read skillbank's installed source code (site-packages with a normal install)
# contained: the sandbox modules are imported before lockdown; skillbank's files stay unreadable
# static: refuse
# install: wheel
# outcome: PermissionError
print('ESCAPED', open('@@SKILLBANK@@/sandbox/pool.py').read()[:40])
