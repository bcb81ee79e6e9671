"""Ninety's shared core: what both the indexer and the backend need.

Settings, errors, the database engine and ledger tables, contract ABI loading, the chain
client, the IPFS client and the service supervisor. Nothing here imports from `indexer`
or `backend`; only `ninety.cli`, the composition root, wires them together.
"""
__version__ = "0.1.0"
