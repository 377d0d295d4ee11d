# tries: pass positional arguments the host cannot name
# contained: the proxy asks for keyword arguments
# outcome: TypeError
apis.echo.echo(1, 2)
