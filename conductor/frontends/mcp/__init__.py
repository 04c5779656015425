"""The MCP front end: ``server`` translates the protocol, ``backend`` makes every decision."""
