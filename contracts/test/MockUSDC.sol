// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Dev-chain stand-in for a USD stablecoin (6 decimals). Never deploy to a real chain:
/// anyone may mint.
contract MockUSDC is ERC20 {
    constructor() ERC20("Mock USD Coin", "mUSDC") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Mint `amount` to `to`; open to anyone, for tests and the demo.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
