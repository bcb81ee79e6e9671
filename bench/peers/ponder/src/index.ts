import { ponder } from "ponder:registry";
import { sale } from "ponder:schema";

ponder.on("Marketplace:Sale", async ({ event, context }) => {
  await context.db.insert(sale).values({
    id: `${event.transaction.hash}-${event.log.logIndex}`,
    trackId: event.args.trackId,
    buyer: event.args.buyer,
    token: event.args.token,
    amount: event.args.amount,
    platformFee: event.args.platformFee,
    splitId: event.args.splitId,
    blockNumber: event.block.number,
    blockTime: event.block.timestamp,
    txHash: event.transaction.hash,
    logIndex: event.log.logIndex,
  });
});
