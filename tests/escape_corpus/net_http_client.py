# tries: make an HTTP request with http.client
# contained: seccomp denies the socket
# static: refuse
# outcome: ImportError PermissionError OSError
import http.client
c = http.client.HTTPConnection('127.0.0.1', 80, timeout=1)
c.request('GET', '/')
print('ESCAPED')
