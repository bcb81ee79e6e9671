// One row per Sale: the event's fields and where it is on chain, as Ninety's `sale` table
// keeps them (less the artist and fee recipient, which Ninety joins from other events).
import { onchainTable } from "ponder";

export const sale = onchainTable("sale", (t) => ({
  id: t.text().primaryKey(), // `${txHash}-${logIndex}`
  trackId: t.bigint().notNull(),
  buyer: t.hex().notNull(),
  token: t.hex().notNull(),
  amount: t.bigint().notNull(),
  platformFee: t.bigint().notNull(),
  splitId: t.hex().notNull(),
  blockNumber: t.bigint().notNull(),
  blockTime: t.bigint().notNull(),
  txHash: t.hex().notNull(),
  logIndex: t.integer().notNull(),
}));
