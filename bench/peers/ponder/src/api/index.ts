// The bench reads the row count here once /ready answers: the same count on PGlite (which
// only this process can open) and on PostgreSQL (where the bench also counts it itself).
import { Hono } from "hono";
import { count } from "ponder";
import { db } from "ponder:api";
import { sale } from "ponder:schema";

const app = new Hono();

app.get("/sale-count", async (c) => {
  const [row] = await db.select({ n: count() }).from(sale);
  return c.json({ count: Number(row?.n ?? 0) });
});

export default app;
