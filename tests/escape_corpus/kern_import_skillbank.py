# tries: import skillbank's own world code inside the worker (rebuild the task's world and play the expert)
# contained: Landlock's roots leave skillbank out; seccomp refuses the stat calls the import system needs
# static: refuse
# outcome: ModuleNotFoundError PermissionError
import skillbank.worlds.apps
print('ESCAPED: imported', skillbank.worlds.apps.__name__)
