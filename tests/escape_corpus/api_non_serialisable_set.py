# tries: pass a set (not JSON) to the host
# contained: the proxy refuses it with a clear message
# outcome: TypeError
apis.echo.echo(ids={1, 2, 3})
