"""The floor of the indexer benchmark: fetch a contract's logs with eth_getLogs over a block
range, parse the JSON answers, print how many logs there were. Nothing else (no decoding,
no database), so an indexer can be no faster than this process on the same chain.

bench/indexer.py runs it as a fresh process and times it from spawn to exit, like
`ninety index --once`: Python's start-up is counted for both. It imports only the standard
library and orjson (the fastest parser installed; json when orjson is missing), so its
start-up is as short as Python's own.

Usage: python bench/floor.py RPC_URL ADDRESS TOPIC0 FROM_BLOCK TO_BLOCK [BLOCKS_PER_REQUEST]
"""
from __future__ import annotations

import http.client
import sys
from urllib.parse import urlsplit

try:
    from orjson import dumps, loads
except ImportError:  # pragma: no cover - the venv has orjson
    import json

    def dumps(obj: object) -> bytes:
        return json.dumps(obj).encode()

    loads = json.loads


def main(argv: list[str]) -> int:
    url, address, topic = argv[1], argv[2], argv[3]
    low, high = int(argv[4]), int(argv[5])
    step = int(argv[6]) if len(argv) > 6 else 5
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=600)
    count = 0
    for n, lo in enumerate(range(low, high + 1, step)):
        hi = min(high, lo + step - 1)
        body = dumps({"jsonrpc": "2.0", "id": n, "method": "eth_getLogs",
                      "params": [{"address": address, "topics": [topic], "fromBlock": hex(lo), "toBlock": hex(hi)}]})
        conn.request("POST", parts.path or "/", body, {"Content-Type": "application/json"})
        answer = loads(conn.getresponse().read())
        if "error" in answer:
            print(f"eth_getLogs {lo}..{hi}: {answer['error']}", file=sys.stderr)
            return 1
        count += len(answer["result"])
    print(count)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
