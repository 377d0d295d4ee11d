# tries: write a file through pathlib
# contained: Landlock denies the write
# static: refuse
# outcome: PermissionError
import pathlib
pathlib.Path('@@MARKER@@').write_text('x')
print('ESCAPED')
