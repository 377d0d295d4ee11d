# tries: read the project's own files (pyproject.toml)
# contained: Landlock grants only the Python installation, not the project tree
# static: refuse
# outcome: PermissionError
print('ESCAPED', open('@@PROJECT@@/pyproject.toml').read()[:40])
