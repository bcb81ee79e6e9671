// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Test token with a transfer hook (as ERC-777 and ERC-1363 tokens have) that an
/// attacker controls: on the next transfer it calls `target` with `data`, once, from the
/// token's own address, in the middle of the transfer.
/// @dev The hook's failure does not stop the transfer; its success and revert data are
/// kept in `hookCalled`, `hookSucceeded` and `hookResult`, so a test sees which guard
/// stopped it, and that the outer call went on.
contract WeirdHookToken is ERC20 {
    address public target;
    bytes public data;
    bool public hookCalled;
    bool public hookSucceeded;
    bytes public hookResult;
    bool private _inHook;

    constructor() ERC20("Hook", "HOOK") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Call `target_` with `data_` during the next transfer (the zero address: never).
    function setHook(address target_, bytes calldata data_) external {
        target = target_;
        data = data_;
        hookCalled = false;
        hookSucceeded = false;
        delete hookResult;
    }

    /// @notice Let `spender` move the token's own balance (so the hook can pay for a buy).
    function approveFromToken(address spender, uint256 amount) external {
        _approve(address(this), spender, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        address t = target;
        if (t == address(0) || _inHook || hookCalled || from == address(0)) return;
        _inHook = true;
        hookCalled = true;
        (bool ok, bytes memory result) = t.call(data);
        hookSucceeded = ok;
        hookResult = result;
        _inHook = false;
    }
}
