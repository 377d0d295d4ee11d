# tries: import skillbank's own apps world inside the worker, rebuild a task's world and play the expert
# contained: skillbank's code outside the sandbox modules is not readable from a worker (editable or installed)
# static: refuse
# install: wheel
# outcome: ImportError ModuleNotFoundError PermissionError OSError
from skillbank.worlds.apps import AppsWorld
world = AppsWorld()
task = world.tasks('train')[0]
env = world.start(task.id)
expert = world.expert_solution(task.id)
print('ESCAPED: built the world and its expert solution for', task.id)
