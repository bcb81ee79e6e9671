"""The ledger's logic, pure (no database session, no RPC): decoding the Marketplace's
logs (`events`), the one registry of event kinds, their tables and the aggregates
(`registry`), one row-building function per event kind (`rows`, dispatched by `mapping`),
and what rows add to the aggregates (`aggregates`). The indexer's store, `ninety verify`,
the ledger API's proofs and the benchmarks all derive from the registry."""
