// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

interface IMarketplacePools {
    function depositToPool(uint256 epoch, address token, uint256 amount) external payable;
    function withdrawPoolDeposit(uint256 epoch, address token, uint256 amount) external;
}

/// @title Test sponsor (a contract) that can refuse the ETH it takes back, or try to take
/// it back twice by re-entering from its receive function.
/// @dev When re-entering, the nested call's failure is caught and its revert data kept in
/// `reentryError`, so a test sees which guard stopped it (and that the outer call, which
/// must still succeed, paid only once).
contract PoolSponsor {
    IMarketplacePools public immutable market;
    bool public reject;
    bool public reenter;
    uint256 public attempts;
    uint256 private _epoch;
    bytes public reentryError;

    constructor(address market_) {
        market = IMarketplacePools(market_);
    }

    function setMode(bool reject_, bool reenter_) external {
        reject = reject_;
        reenter = reenter_;
    }

    function deposit(uint256 epoch) external payable {
        market.depositToPool{value: msg.value}(epoch, address(0), msg.value);
    }

    function takeBack(uint256 epoch, uint256 amount) external {
        _epoch = epoch;
        market.withdrawPoolDeposit(epoch, address(0), amount);
    }

    receive() external payable {
        if (reject) revert("no ETH, thanks");
        if (reenter && attempts++ == 0) {
            try market.withdrawPoolDeposit(_epoch, address(0), msg.value) {}
            catch (bytes memory reason) {
                reentryError = reason;
            }
        }
    }
}
