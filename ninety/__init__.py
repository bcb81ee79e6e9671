"""Ninety's shared core: what both the indexer and the backend need.

Settings, errors, paths, the database engine and ledger tables, contract ABI loading and
calls, the chain and IPFS clients, the ledger's event registry and the accounting rules.
Nothing in the core imports `indexer`, `backend` or `ninety.cli`; `ninety.cli`, the command
layer, wires them together (the contracts in pyproject.toml check it).
"""
__version__ = "0.1.0"
