// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Test payee whose receive always reverts.
contract RejectingPayee {
    receive() external payable {
        revert("no ETH, thanks");
    }
}
