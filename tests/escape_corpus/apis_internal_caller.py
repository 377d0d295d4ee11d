# tries: pull the proxy's internal caller out and send a forged app name
# contained: the parent validates names and replaces the worker
# static: refuse
# outcome: killed:crash
caller = object.__getattribute__(apis, '_caller')
caller('../etc', 'passwd', {})
