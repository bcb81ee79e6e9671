// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Test token that answers `false` instead of reverting when a transfer cannot be
/// made (too little balance or allowance), and answers `false` to every transfer, moving
/// nothing, while `refuse` is set (as some older tokens do).
contract WeirdFalseToken is ERC20 {
    bool public refuse;

    constructor() ERC20("Returns False", "FALSE") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setRefuse(bool refuse_) external {
        refuse = refuse_;
    }

    function transfer(address to, uint256 amount) public override returns (bool) {
        if (refuse || balanceOf(msg.sender) < amount) return false;
        return super.transfer(to, amount);
    }

    function transferFrom(address from, address to, uint256 amount) public override returns (bool) {
        if (refuse || balanceOf(from) < amount || allowance(from, msg.sender) < amount) return false;
        return super.transferFrom(from, to, amount);
    }
}
