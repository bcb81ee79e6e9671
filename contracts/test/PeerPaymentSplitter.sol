// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {PaymentSplitter} from "@openzeppelin/contracts-v4/finance/PaymentSplitter.sol";

/// @title Benchmark peer: OpenZeppelin 4.9's PaymentSplitter, unchanged.
contract PeerPaymentSplitter is PaymentSplitter {
    constructor(address[] memory payees, uint256[] memory shares_) PaymentSplitter(payees, shares_) {}
}
