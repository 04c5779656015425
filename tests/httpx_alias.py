"""pytest plugin: alias httpx to httpx2 before anything imports httpx, so respx intercepts httpx2."""

import httpx2

httpx2.alias_httpx()
