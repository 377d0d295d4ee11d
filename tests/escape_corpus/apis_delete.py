# tries: delete apis
# contained: only this block loses it; the next block gets it back
# outcome: NameError
del apis
apis.echo.echo(a=1)
