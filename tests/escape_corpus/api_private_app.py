# tries: reach private attributes through apis
# contained: the proxy has no private apps or APIs
# outcome: AttributeError
apis._caller('echo', 'echo', {})
