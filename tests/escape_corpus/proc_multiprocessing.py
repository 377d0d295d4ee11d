# tries: start a multiprocessing.Process
# contained: process creation is denied
# static: refuse
# outcome: PermissionError OSError
import multiprocessing
p = multiprocessing.Process(target=print, args=('ESCAPED',))
p.start()
p.join()
