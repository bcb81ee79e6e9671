"""The HTTP API and web app: reads the ledger, owns sessions, uploads and keys."""
