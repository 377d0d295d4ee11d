# tries: inject Rich markup and terminal escape sequences (retitle, clear screen, hyperlink) into what `skillbank sandbox exec` prints
# contained: the CLI prints agent text with markup off and control characters escaped (tests/test_sandbox_host.py runs this through the CLI)
# outcome: ValueError
print('\x1b]0;pwned\x07\x1b[2J[bold red]not markup[/bold red] [/bogus]')
print('\x1b]8;;http://example.invalid\x1b\\link\x1b]8;;\x1b\\')
raise ValueError('[/bogus] \x1b[31mred\x1b[0m')
