# tries: climb tb_frame.f_back out of the agent's code into the worker harness and use its socket module
# contained: the harness has no more rights than the agent's code
# static: refuse
# outcome: PermissionError
try:
    1 / 0
except ZeroDivisionError as e:
    frame = e.__traceback__.tb_frame
while frame.f_back is not None:
    frame = frame.f_back
sock_mod = frame.f_globals.get('socket') or __import__('socket')
sock_mod.socket().connect(('127.0.0.1', 22))
print('ESCAPED')
