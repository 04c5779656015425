"""The front ends, the top layer: every way a person or another program drives Conductor.

``cli`` (the ``conductor`` command), ``repl`` (``conductor chat``), ``mcp`` (the MCP server for
agent hosts), ``evals`` (recorded scenarios run against the engine) and ``install`` (writing the
slash command into a host). They sit together so the rule is one line: nothing below imports from
``conductor.frontends``, and the front ends reach the engine through the session.
"""
