# tries: read a host file the agent was never given
# contained: Landlock denies the read
# static: refuse
# outcome: PermissionError
print('ESCAPED', open('@@CANARY@@').read())
