# tries: overwrite apis with a fake object
# contained: only this block's name changes; the next block gets the real apis back
# outcome: AttributeError
apis = None
apis.echo.echo(a=1)
