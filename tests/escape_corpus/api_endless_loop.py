# tries: call the host in an endless loop
# contained: the per-execution API budget stops the loop
# outcome: ApiBudgetExceeded
while True:
    apis.echo.echo(n=1)
