# tries: 500 API calls with 1.4 MB arguments each (700 MB kept in the parent's records)
# contained: a per-execution byte budget for API traffic refuses the calls past it; records keep bounded copies
# outcome: ApiBudgetExceeded
big = 'x' * 1_400_000
through = 0
for _ in range(500):
    apis.echo.echo(blob=big)
    through += 1
    if through * len(big) > 64_000_000:
        print('ESCAPED', through, 'calls of 1.4 MB reached the host')
        break
