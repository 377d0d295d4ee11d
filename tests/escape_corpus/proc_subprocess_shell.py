# tries: run a shell pipeline with Popen(shell=True)
# contained: seccomp denies process creation
# static: refuse
# outcome: PermissionError
import subprocess
subprocess.Popen('id > @@MARKER@@', shell=True).wait()
print('ESCAPED')
