# tries: burn CPU inside one C call (a huge power), where signals cannot interrupt
# contained: SIGKILL from the parent needs no cooperation
# outcome: killed:timeout
x = 7 ** (10 ** 9)
print('ESCAPED')
