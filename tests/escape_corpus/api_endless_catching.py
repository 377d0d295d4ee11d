# tries: keep calling the host and swallow the budget errors
# contained: no more calls than the budget reach the host (the corpus test counts them); the timeout ends the run
# outcome: killed:timeout
answered = 0
while True:
    try:
        apis.echo.echo(n=1)
        answered += 1
    except Exception:
        pass
    if answered > 500:
        print('ESCAPED', answered, 'calls answered in one execution')
        break
