// The bench (bench/indexer.py) sets these for each run: the bench chain's Anvil and the
// Marketplace deployed on it. Only the Sale event is indexed, like the one table below.
import { createConfig } from "ponder";

const rpc = process.env.BENCH_RPC_URL;
const address = process.env.BENCH_CONTRACT_ADDRESS as `0x${string}` | undefined;
const startBlock = Number(process.env.BENCH_START_BLOCK ?? "0");
if (!rpc || !address) throw new Error("set BENCH_RPC_URL and BENCH_CONTRACT_ADDRESS (bench/indexer.py does)");

const SaleAbi = [
  {
    type: "event",
    name: "Sale",
    anonymous: false,
    inputs: [
      { name: "trackId", type: "uint256", indexed: true },
      { name: "buyer", type: "address", indexed: true },
      { name: "token", type: "address", indexed: true },
      { name: "amount", type: "uint256", indexed: false },
      { name: "platformFee", type: "uint256", indexed: false },
      { name: "splitId", type: "bytes32", indexed: false },
    ],
  },
] as const;

export default createConfig({
  chains: {
    // Ponder's default head poll (1 s) is left as is: the bench times the backfill only.
    anvil: { id: 31337, rpc },
  },
  contracts: {
    Marketplace: { chain: "anvil", abi: SaleAbi, address, startBlock },
  },
});
