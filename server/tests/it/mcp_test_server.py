"""A small MCP server written with the official Python SDK (`mcp` on PyPI), for mcpulse's probe tests.

Usage: mcp_test_server.py CONTROL_FILE stdio
       mcp_test_server.py CONTROL_FILE http PORT

CONTROL_FILE holds a JSON object read on every request, so a test changes the server's behaviour while it runs:
  delay_ms   -- every tools/call sleeps this long first (a slow, or hanging, server)
  fail       -- the tool `lookup` answers with isError (a failing tool)
  schema     -- 2 adds a required `limit` parameter to `lookup` (a tool schema change)
  exit_code  -- every tools/call ends the process with this code, after a line on stderr (a crashing server)
Tools: `add(a, b)` and `lookup(query[, limit])`.
"""

import asyncio
import json
import os
import sys

import mcp.types as types
from mcp.server.lowlevel import Server

control_file = sys.argv[1]


def control():
    try:
        with open(control_file) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


server = Server("pytest-mcp", version="1.2.3")


@server.list_tools()
async def list_tools() -> list[types.Tool]:
    lookup = {
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
    }
    if control().get("schema", 1) == 2:
        lookup["properties"]["limit"] = {"type": "integer"}
        lookup["required"].append("limit")
    return [
        types.Tool(
            name="add",
            description="Adds two numbers",
            inputSchema={
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                "required": ["a", "b"],
            },
        ),
        types.Tool(name="lookup", description="Looks something up", inputSchema=lookup),
    ]


@server.call_tool(validate_input=False)
async def call_tool(name: str, arguments: dict) -> list[types.TextContent]:
    c = control()
    if "exit_code" in c:
        print("fatal: out of memory", file=sys.stderr, flush=True)
        os._exit(c["exit_code"])
    await asyncio.sleep(c.get("delay_ms", 0) / 1000)
    if name == "add":
        return [types.TextContent(type="text", text=str(arguments["a"] + arguments["b"]))]
    if name == "lookup":
        if c.get("fail"):
            raise ValueError("the lookup backend is down")
        return [types.TextContent(type="text", text=f"found {arguments.get('query')}")]
    raise ValueError(f"unknown tool {name}")


async def run_stdio():
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def run_http(port: int):
    import contextlib

    import uvicorn
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from starlette.applications import Starlette
    from starlette.routing import Mount

    manager = StreamableHTTPSessionManager(app=server)

    async def handle(scope, receive, send):
        await manager.handle_request(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async with manager.run():
            print("ready", flush=True)
            yield

    app = Starlette(routes=[Mount("/mcp", app=handle)], lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    if sys.argv[2] == "stdio":
        asyncio.run(run_stdio())
    else:
        run_http(int(sys.argv[3]))
