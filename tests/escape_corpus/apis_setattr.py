# tries: replace an app on the apis object
# contained: apis is read-only
# outcome: AttributeError
apis.echo = lambda **k: 'fake'
