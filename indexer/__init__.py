"""The ledger indexer: the only writer of chain-derived tables (see ../shared/DESIGN.md)."""
