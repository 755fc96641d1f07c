"""The command line: every command's arguments and the parser (`arguments`), and `cli.main`,
which turns them into the API's option objects once and calls the API.

The top of `eval_cli`: may import every other folder of it (handlers import their command's
modules when called, so ``score`` never imports torch).
"""
