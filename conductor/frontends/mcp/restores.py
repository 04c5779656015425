"""A rollback asked for over MCP is carried out, even when the client goes away right after.

The MCP SDK ends a stdio server at the end of its input and *cancels* every request still in
flight (its dispatcher: "otherwise the task-group join waits on handlers whose callers are
already gone"). For most calls that is harmless: one cancelled before its body ran changed
nothing, and a body already running in its worker thread runs to its end. But a rollback sent by a
client that then exits (crashes, is closed, or a script's ``echo … | conductor mcp``) was dropped
before it began, with all traffic left where it was — and a peer's ``notifications/cancelled``
(Esc in a client) could do the same. Restoring traffic must never depend on the connection.

:class:`RestoreDrain` wraps the server's two streams. A ``tools/call`` that restores traffic —
``rollback``, ``abort_release``, or ``orchestrate`` with a ``rollback`` command — is noted as it is
read; a cancellation of such a call is dropped (a rollback cannot be cancelled); and the end of the
input is passed on only once every noted call has been answered. A rollback never asks the person
anything (no elicitation), so nothing it waits on needs the departed client.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import anyio
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCError, JSONRPCNotification, JSONRPCRequest, JSONRPCResponse

# The typed tools and verbs that restore traffic; ``orchestrate`` does when its command is a rollback.
RESTORING_TOOLS = frozenset({"rollback", "abort_release"})
LONGEST_RESTORE = 1800.0  # seconds the end of input is held back for unanswered rollbacks


def restores_traffic(message: object) -> bool:
    """Whether ``message`` is a tool call that returns traffic to stable."""
    if not isinstance(message, JSONRPCRequest) or message.method != "tools/call":
        return False
    params = message.params or {}
    name = params.get("name")
    if name in RESTORING_TOOLS:
        return True
    if name != "orchestrate":
        return False
    arguments = params.get("arguments") or {}
    command = arguments.get("command") if isinstance(arguments, dict) else None
    words = command.split() if isinstance(command, str) else []
    if words and words[0] in ("/orchestrate", "orchestrate"):
        words = words[1:]
    return bool(words) and words[0] == "rollback"


class RestoreDrain:
    """The ids of traffic-restoring calls read and not yet answered, and the wrapped streams."""

    def __init__(self, read_stream: Any, write_stream: Any) -> None:
        self.pending: set[str] = set()
        self._answered = anyio.Event()
        self.read_stream = _DrainingReader(self, read_stream)
        self.write_stream = _AnsweringWriter(self, write_stream)

    def noted(self, message: object) -> bool:
        """Note a restoring call as read; True for a cancellation of one (to be dropped)."""
        if restores_traffic(message):
            assert isinstance(message, JSONRPCRequest)
            self.pending.add(str(message.id))
        elif isinstance(message, JSONRPCNotification) and message.method == "notifications/cancelled":
            return str((message.params or {}).get("requestId")) in self.pending
        return False

    def answered(self, message: object) -> None:
        if isinstance(message, JSONRPCResponse | JSONRPCError) and str(message.id) in self.pending:
            self.pending.discard(str(message.id))
            self._answered.set()
            self._answered = anyio.Event()

    async def until_answered(self) -> None:
        """Wait for every noted call's answer, for at most :data:`LONGEST_RESTORE` (a leak-proof
        ceiling: a rollback takes seconds to minutes, and a server whose client is gone must end)."""
        with anyio.move_on_after(LONGEST_RESTORE):
            while self.pending:
                await self._answered.wait()


class _Wrapped:
    """One of the server's streams, closed as the SDK closes it (``async with``, ``aclose``)."""

    def __init__(self, drain: RestoreDrain, inner: Any) -> None:
        self._drain = drain
        self._inner = inner

    async def aclose(self) -> None:
        await self._inner.aclose()

    def close(self) -> None:
        self._inner.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.aclose()


class _DrainingReader(_Wrapped):
    """The server's read stream, holding back its end while a restoring call is unanswered."""

    @property
    def last_context(self) -> Any:  # the SDK reads the sender's context snapshot from here
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        while True:
            try:
                item: SessionMessage | Exception = await self._inner.receive()
            except anyio.EndOfStream:
                await self._drain.until_answered()
                raise
            if isinstance(item, SessionMessage) and self._drain.noted(item.message):
                continue  # a cancellation of a rollback: not passed on
            return item

    def __aiter__(self) -> _DrainingReader:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None


class _AnsweringWriter(_Wrapped):
    """The server's write stream, telling the drain which restoring calls have been answered."""

    async def send(self, item: SessionMessage) -> None:
        try:
            await self._inner.send(item)
        finally:  # answered even if the write failed: nobody is left to read it
            self._drain.answered(item.message)


async def serve_stdio(server: Any) -> None:
    """``server.run("stdio")``, with rollbacks carried out whatever the client does."""
    from mcp.server.stdio import stdio_server

    lowlevel = server._lowlevel_server  # the SDK's own run_stdio_async does the same
    async with stdio_server() as (read_stream, write_stream):
        drain = RestoreDrain(read_stream, write_stream)
        await lowlevel.run(drain.read_stream, drain.write_stream, lowlevel.create_initialization_options())


__all__ = ["RestoreDrain", "restores_traffic", "serve_stdio"]
