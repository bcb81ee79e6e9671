// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Test token whose balances change by themselves (as stETH's or AMPL's do): every
/// balance is the holder's shares times an index the test sets, so a rebase scales every
/// holder's balance, the Marketplace's included, without a transfer.
/// @dev Amounts in transfers and approvals are balances; shares move underneath, rounded
/// down (as real rebasing tokens round), so a transfer may deliver 1 unit less than sent.
contract WeirdRebasingToken is ERC20 {
    uint256 public constant ONE = 1e18;
    uint256 public index = ONE;

    constructor() ERC20("Rebasing", "REBASE") {}

    /// @notice Scale every balance by `newIndex / 1e18` from now on.
    function setIndex(uint256 newIndex) external {
        index = newIndex;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function sharesOf(address account) external view returns (uint256) {
        return super.balanceOf(account);
    }

    function balanceOf(address account) public view override returns (uint256) {
        return (super.balanceOf(account) * index) / ONE;
    }

    function totalSupply() public view override returns (uint256) {
        return (super.totalSupply() * index) / ONE;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, (value * ONE) / index);
    }
}
