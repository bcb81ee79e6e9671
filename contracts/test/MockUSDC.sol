// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title Dev-chain stand-in for a USD stablecoin (6 decimals) with EIP-2612 permits, as real
/// USDC has (its EIP-712 domain is readable through EIP-5267 `eip712Domain`). Never deploy
/// to a real chain: anyone may mint.
contract MockUSDC is ERC20, ERC20Permit {
    constructor() ERC20("Mock USD Coin", "mUSDC") ERC20Permit("Mock USD Coin") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Mint `amount` to `to`; open to anyone, for tests and the demo.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
