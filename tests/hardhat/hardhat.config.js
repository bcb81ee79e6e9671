// Hardhat's node as a second chain implementation for tests/test_second_node.py (the
// suite otherwise runs on Anvil). Nothing is compiled here: the Marketplace comes from
// Ninety's own build, and with no sources Hardhat never fetches a solc. The chain id
// comes from the test (31337, Hardhat's and Anvil's default, or a non-dev one).
const path = require("path");
const scratch = process.env.NINETY_HARDHAT_SCRATCH || path.join(__dirname, ".scratch");

module.exports = {
  paths: {
    sources: path.join(__dirname, "no-sources"),
    cache: path.join(scratch, "cache"),
    artifacts: path.join(scratch, "artifacts"),
  },
  networks: {
    hardhat: {
      chainId: Number(process.env.NINETY_HARDHAT_CHAIN_ID || 31337),
      mining: { auto: true, interval: 0 },
    },
  },
};
