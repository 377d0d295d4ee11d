# tries: keep calling the host and swallow the budget errors
# contained: no more calls reach the host; the timeout ends the run
# outcome: killed:timeout
while True:
    try:
        apis.echo.echo(n=1)
    except Exception:
        pass
