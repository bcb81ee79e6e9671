// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Test token whose `balanceOf` overstates what a recipient can spend: every
/// transfer also adds a tenth of its amount to the recipient's reported balance, as a
/// "bonus" that can never be transferred. A contract that credits by balance difference
/// would owe more than it can pay.
contract WeirdInflatedBalanceToken is ERC20 {
    mapping(address => uint256) public bonus;

    constructor() ERC20("Inflated Balance", "INFL") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function balanceOf(address account) public view override returns (uint256) {
        return super.balanceOf(account) + bonus[account];
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (from != address(0) && to != address(0)) bonus[to] += value / 10;
    }
}
