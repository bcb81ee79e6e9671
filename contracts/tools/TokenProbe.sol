// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Token probe for `ninety token allow`: never deployed. Its runtime code is put at a
/// token holder's address through an `eth_call` state override, so it runs as the holder
/// and spends nothing: the transfers it makes happen only inside that call.
/// @dev It reads no storage of its own (the holder may be a contract whose storage stays in
/// place) and judges nothing: it reports what the token did, the caller judges.
contract TokenProbe {
    /// @notice What one transfer did: whether the call succeeded, what it returned (or its
    /// revert data), and the balances `balanceOf` reported before and after it.
    struct Step {
        bool ok;
        bytes returned;
        uint256 senderBefore;
        uint256 senderAfter;
        uint256 recipientBefore;
        uint256 recipientAfter;
    }

    /// @notice Send `amount` of `token` to `first` with `transfer`, then approve this
    /// address and send `amount` to `second` with `transferFrom` (the way the Marketplace
    /// takes a buyer's payment).
    /// @param token The ERC-20 under test.
    /// @param first A fresh address for the `transfer`.
    /// @param second Another fresh address for the `transferFrom`.
    /// @param amount What each transfer sends; the holder needs twice as much.
    /// @return transferStep The `transfer`'s outcome.
    /// @return approveStep The `approve`'s outcome (balances unused).
    /// @return transferFromStep The `transferFrom`'s outcome.
    function probe(address token, address first, address second, uint256 amount)
        external
        returns (Step memory transferStep, Step memory approveStep, Step memory transferFromStep)
    {
        transferStep = _step(token, first, abi.encodeWithSelector(0xa9059cbb, first, amount));
        approveStep = _step(token, address(this), abi.encodeWithSelector(0x095ea7b3, address(this), amount));
        transferFromStep =
            _step(token, second, abi.encodeWithSelector(0x23b872dd, address(this), second, amount));
    }

    function _step(address token, address recipient, bytes memory call) private returns (Step memory s) {
        s.senderBefore = _balance(token, address(this));
        s.recipientBefore = _balance(token, recipient);
        (s.ok, s.returned) = token.call(call);
        s.senderAfter = _balance(token, address(this));
        s.recipientAfter = _balance(token, recipient);
    }

    function _balance(address token, address account) private view returns (uint256) {
        (bool ok, bytes memory answer) = token.staticcall(abi.encodeWithSelector(0x70a08231, account));
        return ok && answer.length >= 32 ? abi.decode(answer, (uint256)) : type(uint256).max;
    }
}
