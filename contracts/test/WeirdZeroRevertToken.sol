// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Test token that reverts on a transfer of zero (as LEND and a few others did).
contract WeirdZeroRevertToken is ERC20 {
    error ZeroTransfer();

    constructor() ERC20("Zero Reverts", "ZERO") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (value == 0) revert ZeroTransfer();
        super._update(from, to, value);
    }
}
