# tries: reach private attributes through apis
# contained: the proxy has no private apps or APIs
# static: refuse
# outcome: AttributeError
apis._caller('echo', 'echo', {})
