// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

interface IMarketplaceWithdraw {
    function withdraw(address account, address[] calldata tokens) external;
    function buy(uint256 trackId, uint256 amount) external payable;
}

/// @title Test payee that tries to re-enter the marketplace when it receives ETH.
contract ReentrantPayee {
    IMarketplaceWithdraw public immutable market;
    uint256 public attempts;
    bool public reenterWithBuy;
    uint256 public buyTrackId;

    constructor(address market_) {
        market = IMarketplaceWithdraw(market_);
    }

    function attackWithBuy(uint256 trackId) external {
        reenterWithBuy = true;
        buyTrackId = trackId;
    }

    receive() external payable {
        attempts += 1;
        if (attempts > 1) return;
        if (reenterWithBuy) {
            market.buy{value: msg.value}(buyTrackId, msg.value);
        } else {
            address[] memory tokens = new address[](1);
            market.withdraw(address(this), tokens);
        }
    }
}
