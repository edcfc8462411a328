"""The ``posetraj`` command line: the application shell around the four libraries.

``main.py`` dispatches ``posetraj SUBCOMMAND``; each other module here is one subcommand with
``build_parser(parser)`` and ``run(args) -> int``. Commands may import any package of the project;
no library module imports a command (docs/architecture.md).
"""
