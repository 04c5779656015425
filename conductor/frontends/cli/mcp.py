"""`conductor mcp`: serve this repository's Conductor over the Model Context Protocol."""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from conductor.config import find_config
from conductor.config_file import load_config
from conductor.errors import UsageError
from conductor.frontends.cli import exit_codes
from conductor.frontends.cli.common import add_brain_option, add_config_option

DESCRIPTION = """Serve Conductor to an MCP client (Claude Code, Claude Desktop, any MCP host).

  conductor mcp                          stdio: the client starts this command
  conductor mcp --http --port 8765       streamable HTTP on 127.0.0.1:8765/mcp; clients send
                                         "Authorization: Bearer $CONDUCTOR_MCP_TOKEN" (a random
                                         token is made and printed when the variable is unset)

Tools: the agent's typed tools (get_status, check_health, deploy, shift_traffic, rollback, ...)
and `orchestrate` (a whole /orchestrate command). Every call is guarded and journaled; a client
can do nothing the CLI could not. Strategy commands are approvals, so the person is asked to
confirm them through the client (MCP elicitation); see --trust-client-approval.

Register with Claude Code:  claude mcp add conductor -- conductor mcp
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "mcp", help="serve Conductor over the Model Context Protocol (stdio, or --http on loopback)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "the client disconnected or the server was stopped", 1: None,
                                  2: "bad usage or config (a busy or invalid --port, a non-loopback --host)"}),
    )
    add_config_option(parser)
    add_brain_option(parser, "the brain for orchestrate")
    parser.add_argument(
        "--trust-client-approval", action="store_true",
        help="treat each orchestrate call as the person's approval, for clients that show every tool call "
        "to their user before running it (never with auto-approval); journaled as person:mcp-client",
    )
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address for --http (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8765, help="port for --http, 1-65535 (default 8765)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # deferred: the MCP SDK and the engine load when `conductor mcp` serves, not on `--help`
    from conductor.frontends.mcp.backend import McpBackend
    from conductor.frontends.mcp.server import ServerSettings, build_server, serve_http

    config_path: Path = args.config if args.config is not None else find_config(Path.cwd())
    load_config(config_path)  # a bad config fails here, exit 2, before any client connects
    if args.http and not _is_loopback(args.host):
        raise UsageError(
            f"--host {args.host}: Conductor serves HTTP on loopback only (127.0.0.1, ::1, localhost); "
            "anyone who can reach the port could deploy"
        )
    settings = ServerSettings(
        backend=McpBackend(config_path, model=args.model),
        approvals="trust-client" if args.trust_client_approval else "elicit",
    )
    if args.http:
        _check_port_free(args.host, args.port)  # before the server is built: a usage error, not a traceback
    server = build_server(settings)
    if args.http:
        token = os.environ.get("CONDUCTOR_MCP_TOKEN") or secrets.token_urlsafe(24)
        if "CONDUCTOR_MCP_TOKEN" not in os.environ:
            print(f"conductor mcp: bearer token for this server: {token}", file=sys.stderr)
        print(f"conductor mcp: serving http://{args.host}:{args.port}/mcp", file=sys.stderr, flush=True)
        try:
            serve_http(server, args.host, args.port, token)
        except SystemExit as exc:  # uvicorn exits 3 when it cannot start (taken between our check and its bind)
            if exc.code in (0, None):
                raise
            raise UsageError(f"--port {args.port}: the server could not start on {args.host} (is the port taken?)"
                             ) from None
    else:
        import anyio

        from conductor.frontends.mcp.restores import serve_stdio

        anyio.run(serve_stdio, server)  # a rollback is answered even when the client's input ends first
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is from 1 to 65535, got {port}")
    return port


def _check_port_free(host: str, port: int) -> None:
    """Bind once to find out, so a busy port is a usage error (exit 2) with the reason."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UsageError(f"--port {port}: cannot listen on {host}:{port}: {exc.strerror or exc}; "
                             "pick another port") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
