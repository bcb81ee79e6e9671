"""Sponsor-pool epochs, the core accounting rule: `rules` (the rules document and the
clock), `allocation` (the rule and its report), `onchain` (its inputs, read from the chain
alone) and `check` (re-checking a published epoch)."""
