# tries: pass an arbitrary object to the host
# contained: the proxy refuses non-JSON arguments before sending
# outcome: TypeError
apis.echo.echo(x=object())
