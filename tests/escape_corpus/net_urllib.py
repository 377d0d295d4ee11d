# tries: fetch a URL with urllib
# contained: urllib cannot even load its dependencies, and sockets are denied
# static: refuse
# outcome: ImportError ModuleNotFoundError PermissionError URLError OSError
import urllib.request
urllib.request.urlopen('http://127.0.0.1:1/', timeout=1)
print('ESCAPED')
