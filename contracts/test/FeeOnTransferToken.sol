// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Test token that burns a percentage (1% unless set) of every transfer, as some
/// real tokens do.
contract FeeOnTransferToken is ERC20 {
    uint256 public feePercent = 1;

    constructor() ERC20("Fee On Transfer", "FOT") {}

    function setFeePercent(uint256 percent) external {
        feePercent = percent;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0)) {
            super._update(from, to, value);
            return;
        }
        uint256 burned = (value * feePercent) / 100;
        super._update(from, address(0), burned);
        super._update(from, to, value - burned);
    }
}
