// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

/// @title Ninety Marketplace
/// @notice Sells tracks listed by artists and settles every sale on-chain: the payees of
/// the track's split receive at least 90% of each sale, the platform at most 10%.
/// @dev Money moves in three steps, each bounded in gas:
///  1. `buy` credits the sale to the track's split (`splitBalance`) and the fee to the fee
///     recipient (`owed`): two storage writes, whatever the number of payees.
///  2. `distribute` (anyone may call it) allots a split's balance to its payees by share,
///     rounding dust to the first payee, so the sum of credits equals the balance exactly.
///  3. `withdraw` (anyone may call it, for any account) pays an account what it is owed;
///     `withdrawTo` lets the account itself be paid at another address.
/// Steps 2 and 3 and pool claims are no-ops, not reverts, when someone else already did
/// them, so a batch (`multicall`) of them succeeds on a busy split.
/// A split is committed as its id, keccak256(abi.encode(recipients, sharesPpm)): only
/// that hash is stored, the data is in `SplitCreated` and is passed back as calldata to
/// `distribute` and `proposeSplit`.
/// Balance sentinel: `owed` and `splitBalance` are stored plus one once a slot was first
/// credited, and a withdrawal or distribution leaves the stored 1 behind, so the next
/// credit rewrites a live slot instead of creating one (as 0xSplits leaves 1 wei). The
/// sentinel is never money: `owed()` and `splitBalance()` return the stored value minus
/// one, and everything owed is paid out.
/// A track's artist cannot cut collaborators out: moving a track to another split that
/// lowers some payee's share takes effect only once each of them accepts it on chain.
/// Sponsor pools pay artists for free downloads. Epochs are fixed windows of block time
/// (`epochSeconds` long from the deployment block). Sponsors deposit into the current
/// epoch's pool or a later one and may take a deposit back until its epoch ends; an
/// ended epoch's pools never change. After the end the owner publishes, in order, a
/// Merkle root of allocations (split, token, amount) computed by the pool rules committed
/// on chain before the epoch began (`setPoolRules`), with the report's CID; each
/// allocation is claimed once into the split's balance, then follows steps 2 and 3 like
/// a sale. The platform's part of a pool is at most 1/9 of what it allocates (10% of what
/// is paid out), so money carried over is never charged.
/// A release (album, EP) is a listing like a track, in the same id space, with its own
/// metadata, split, token and price; it holds one or more tracks of its registrant
/// (`ReleaseRegistered` carries their ids, `releaseTracks` returns them), and cannot be
/// bought while any of them is blocked. `buyWithPermit` buys with an EIP-2612 permit, in
/// one transaction.
/// Listings are attested: while a catalog signer is set, `registerTrack` needs its EIP-712
/// signature over (metadataCid, registrant, deadline), so only the wallet that uploaded a
/// recording through the platform can list it, once per metadata CID. The owner can block a track (a takedown, with a
/// public reason); a blocked track cannot be bought, and what its payees earned stays
/// theirs to withdraw.
/// For every token: balance == sum of `owed()` + sum of `splitBalance()` + every open pool
/// + every published pool's unclaimed allocations, unless someone forces funds in
/// without a sale (then balance is larger) or the token changes balances by itself
/// (rebasing: such tokens must not be allowed, see the README's token policy).
contract Marketplace is Ownable2Step, ReentrancyGuardTransient, Multicall {
    using SafeERC20 for IERC20;

    /// @notice The platform fee can never exceed 10% (1,000 basis points) of a sale.
    uint16 public constant MAX_PLATFORM_FEE_BPS = 1000;
    /// @notice Split shares are parts per million and sum to exactly this.
    uint32 public constant TOTAL_SHARES_PPM = 1_000_000;
    /// @notice A split has at most this many recipients.
    uint256 public constant MAX_RECIPIENTS = 100;
    /// @notice A release holds at least one and at most this many tracks.
    uint256 public constant MAX_RELEASE_TRACKS = 100;
    /// @notice The largest price a track can have (prices are packed into 88 bits).
    uint256 public constant MAX_PRICE = type(uint88).max;
    /// @notice Deposits may go this many epochs past the current one, no further (epoch
    /// numbers stay small: ledgers store them as ordinary integers).
    uint256 public constant MAX_EPOCHS_AHEAD = 1000;
    /// @notice A deposit into an ended epoch still unpublished this many epochs after its
    /// end can be taken back (a lost owner key locks nothing).
    uint256 public constant RESCUE_EPOCHS = 8;
    /// @dev EIP-712 type of a listing attestation (domain: name "Ninety", version "1", this
    /// chain and this contract): Listing(string metadataCid,address registrant,bytes32
    /// splitId,uint256 deadline). The split is bound so the signer can refuse a new listing
    /// of a recording that would pay its earlier track's collaborators less.
    bytes32 private constant LISTING_TYPEHASH =
        keccak256("Listing(string metadataCid,address registrant,bytes32 splitId,uint256 deadline)");
    /// @dev EIP-712 type of a release's attestation (same domain): it binds the tracks too,
    /// so neither a track's attestation nor one for other tracks can list a release.
    bytes32 private constant RELEASE_TYPEHASH = keccak256(
        "Release(string metadataCid,address registrant,bytes32 splitId,uint256[] trackIds,uint256 deadline)"
    );
    /// @dev The EIP-712 domain, computed here rather than through OpenZeppelin's EIP712
    /// (whose ShortStrings constructor static analysers cannot follow), cached for the
    /// deployment chain and recomputed if the chain id ever changes (a fork).
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private immutable _cachedDomainSeparator;
    uint256 private immutable _cachedChainId;
    /// @dev EIP-712 type a listener signs for a free download it wants counted (checked
    /// off-chain by anyone re-running an epoch's report; see `freeDownloadDigest`).
    bytes32 private constant FREE_DOWNLOAD_TYPEHASH = keccak256("FreeDownload(uint256 trackId,uint256 epoch)");

    /// @notice When epoch 0 began: the deployment block's timestamp.
    uint256 public immutable epochStart;
    /// @notice The length of every epoch, in seconds of block time.
    uint32 public immutable epochSeconds;

    /// @dev `Track.flags` bits. Listing and blocking share the slot `buy` reads anyway.
    uint8 private constant LISTED = 1;
    uint8 private constant BLOCKED = 2;
    /// @dev Set on a release: `buy` takes its slow path (flags != LISTED) and checks members.
    uint8 private constant RELEASE = 4;

    /// @dev Two storage slots read by `buy`: the split, then token, price and flags.
    /// `splitChanges` counts split changes: a proposal is tied to the count it was made at,
    /// so it dies when any other change lands first.
    struct Track {
        bytes32 splitId;
        address token;
        uint88 price;
        uint8 flags;
        address artist;
        uint96 splitChanges;
    }

    /// @notice A split's data, passed as calldata (only its hash is stored).
    struct SplitData {
        address[] recipients;
        uint32[] sharesPpm;
    }

    struct PoolRules {
        uint64 fromEpoch;
        bytes32 rulesHash;
    }

    /// @notice Receives platform fees (as an `owed` balance).
    address public feeRecipient;
    /// @notice Current platform fee in basis points, at most `MAX_PLATFORM_FEE_BPS`.
    uint16 public platformFeeBps;
    /// @notice Whether new sales and registrations are stopped. Withdrawals never are.
    bool public salesPaused;
    /// @notice Signs listing attestations; the zero address means open registration (any
    /// wallet may list any metadata CID, unattested).
    address public catalogSigner;
    /// @dev Set by the first pool deposit: from then on epoch 0's rules are fixed.
    bool private _depositsMade;

    /// @notice Number of tracks registered; track ids run from 1 to `trackCount`.
    uint256 public trackCount;

    mapping(uint256 trackId => Track) private _tracks;
    /// @dev A release's tracks, in order (empty for a track).
    mapping(uint256 releaseId => uint256[]) private _releaseTracks;
    /// @notice Whether `createSplit` created this split (its data was checked).
    mapping(bytes32 splitId => bool) public splitExists;
    /// @notice ERC-20 tokens tracks may be priced in (ETH, the zero address, always is).
    mapping(address token => bool) public tokenAllowed;
    /// @dev Sales credited to a split and not yet allotted, plus the sentinel 1. Keyed by
    /// token first so `distribute` hashes the token's level once, not once per payee.
    mapping(address token => mapping(bytes32 splitId => uint256)) private _splitBalance;
    /// @dev What an account can withdraw, plus the sentinel 1 (token first, as above).
    mapping(address token => mapping(address account => uint256)) private _owed;
    /// @dev Payees (of the track's current split) whose consent a split change still needs,
    /// by proposal (keccak256 of track id, split-change count and proposed split).
    mapping(bytes32 proposal => mapping(address payee => bool)) private _consentNeeded;
    mapping(bytes32 proposal => uint256) private _consentsMissing;

    /// @notice The first epoch not yet published (or skipped, having no pool).
    uint256 public nextEpochToPublish;
    /// @notice The Merkle root of an epoch's allocations; zero until published.
    mapping(uint256 epoch => bytes32) public epochRoot;
    /// @notice Deposited into an epoch's pool and not withdrawn (zero once published).
    mapping(uint256 epoch => mapping(address token => uint256)) public poolBalance;
    /// @notice A published epoch's allocations not yet claimed.
    mapping(uint256 epoch => mapping(address token => uint256)) public poolUnclaimed;
    /// @notice What a sponsor put into an epoch's pool (and can take back until it ends).
    mapping(uint256 epoch => mapping(address sponsor => mapping(address token => uint256))) public poolDeposit;
    /// @notice Allocation leaves already claimed.
    mapping(uint256 epoch => mapping(bytes32 leaf => bool)) public poolClaimed;
    mapping(uint256 epoch => address[]) private _poolTokens;
    mapping(uint256 epoch => mapping(address token => bool)) private _poolHasToken;
    /// @dev Bit `e % 256` of word `e / 256` is set once epoch `e` has a pool: publishing
    /// skips the others 256 at a time.
    mapping(uint256 word => uint256 bits) private _fundedEpochs;
    /// @dev Committed pool rules, by the epoch they apply from (ascending).
    PoolRules[] private _poolRules;
    /// @dev Metadata CIDs (keccak256) listed with an attestation: each is listed once, so
    /// an attestation cannot list a second copy (e.g. after the first was taken down).
    mapping(bytes32 cidHash => bool) private _attestedCid;

    /// @notice A new split was created; its id is keccak256(abi.encode(recipients, sharesPpm)).
    event SplitCreated(bytes32 indexed splitId, address[] recipients, uint32[] sharesPpm);
    /// @notice A track was listed by `artist`; `token` is the zero address for ETH.
    event TrackRegistered(
        uint256 indexed trackId,
        address indexed artist,
        bytes32 indexed splitId,
        address token,
        uint256 price,
        string metadataCid
    );
    /// @notice A release was listed by `artist`, holding tracks `trackIds` (in order), each
    /// registered by `artist`; it shares the track id space (`Sale`, `TrackUpdated`,
    /// `TrackSplitChanged` and `TrackBlocked` name it by `releaseId`).
    event ReleaseRegistered(
        uint256 indexed releaseId,
        address indexed artist,
        bytes32 indexed splitId,
        address token,
        uint256 price,
        string metadataCid,
        uint256[] trackIds
    );
    /// @notice The artist changed a track's price or listing.
    event TrackUpdated(uint256 indexed trackId, uint256 price, bool listed);
    /// @notice Track `trackId`'s sales go to split `splitId` from now on (was `previousSplitId`).
    event TrackSplitChanged(uint256 indexed trackId, bytes32 indexed previousSplitId, bytes32 indexed splitId);
    /// @notice The artist proposed moving track `trackId` to split `splitId`; it takes effect
    /// once every payee in `mustConsent` (who would lose share) accepted. The proposal dies
    /// if the track's split changes first.
    event SplitChangeProposed(uint256 indexed trackId, bytes32 indexed splitId, address[] mustConsent);
    /// @notice The artist withdrew every pending split-change proposal of track `trackId`.
    event SplitProposalsCancelled(uint256 indexed trackId);
    /// @notice `payee` accepted moving track `trackId` to split `splitId`; `missing` more
    /// consents are needed (at zero the change has landed).
    event SplitChangeAccepted(uint256 indexed trackId, bytes32 indexed splitId, address indexed payee, uint256 missing);
    /// @notice A fan bought a track: `amount` was received, `platformFee` of it went to the
    /// fee recipient and `amount - platformFee` to split `splitId`.
    event Sale(
        uint256 indexed trackId,
        address indexed buyer,
        address indexed token,
        uint256 amount,
        uint256 platformFee,
        bytes32 splitId
    );
    /// @notice `amount` of split `splitId`'s balance was allotted to its payees by share,
    /// each `floor(amount * share / 1e6)`, the rounding dust to the first recipient.
    event SplitDistributed(bytes32 indexed splitId, address indexed token, uint256 amount);
    /// @notice `account` was paid `amount` of `token`, sent to `to` (the account itself,
    /// or the address it chose with `withdrawTo`).
    event Withdrawal(address indexed account, address indexed token, uint256 amount, address to);
    /// @notice The platform fee changed.
    event PlatformFeeChanged(uint16 previousBps, uint16 newBps);
    /// @notice Platform fees from now on accrue to `newRecipient`.
    event FeeRecipientChanged(address indexed previousRecipient, address indexed newRecipient);
    /// @notice `token` may (or may no longer) be used to price tracks.
    event TokenAllowed(address indexed token, bool allowed);
    /// @notice Sales and registrations were stopped (`paused`) or resumed.
    event SalesPausedChanged(bool paused);
    /// @notice `sponsor` put `amount` of `token` into epoch `epoch`'s pool.
    event PoolDeposited(uint256 indexed epoch, address indexed sponsor, address indexed token, uint256 amount);
    /// @notice `sponsor` took `amount` back from an epoch before its end (or abandoned).
    event PoolDepositWithdrawn(uint256 indexed epoch, address indexed sponsor, address indexed token, uint256 amount);
    /// @notice Epoch `epoch` settled in `token`: of `pool`, `allocated` is claimable by
    /// splits, `platformFee` (at most 1/9 of `allocated`) went to the fee recipient and
    /// `carriedOver` moved to epoch `carriedToEpoch`'s pool (the current one).
    event PoolSettled(
        uint256 indexed epoch,
        address indexed token,
        uint256 pool,
        uint256 allocated,
        uint256 platformFee,
        uint256 carriedOver,
        uint256 carriedToEpoch
    );
    /// @notice Epoch `epoch`'s allocations were published: `root` over leaves
    /// keccak256(keccak256(abi.encode(epoch, splitId, token, amount))), `listensRoot` over
    /// the counted free downloads (wallet, track), and the full report (rules, every signed
    /// download, qualifying sale and amount) at IPFS `reportCid`.
    event EpochPublished(uint256 indexed epoch, bytes32 root, bytes32 listensRoot, string reportCid);
    /// @notice Pools of epoch `fromEpoch` on are allocated by the rules at IPFS `rulesCid`,
    /// whose canonical JSON hashes (keccak256) to `rulesHash`.
    event PoolRulesSet(uint256 indexed fromEpoch, bytes32 rulesHash, string rulesCid);
    /// @notice An allocation of epoch `epoch` was claimed into split `splitId`'s balance.
    event PoolClaimed(uint256 indexed epoch, bytes32 indexed splitId, address indexed token, uint256 amount);
    /// @notice Listings now need attestations by `newSigner` (none if it is the zero address).
    event CatalogSignerChanged(address indexed previousSigner, address indexed newSigner);
    /// @notice The owner blocked track `trackId` (a takedown); the public reason is at IPFS
    /// `reasonCid`. It cannot be bought until unblocked.
    event TrackBlocked(uint256 indexed trackId, string reasonCid);
    /// @notice The owner lifted the block on track `trackId`; the reason is at `reasonCid`.
    event TrackUnblocked(uint256 indexed trackId, string reasonCid);

    /// @notice A fee above the 10% cap was asked for.
    error Marketplace__FeeAboveCap(uint16 bps, uint16 maxBps);
    /// @notice The zero address was given where an account is needed.
    error Marketplace__ZeroAddress();
    /// @notice A split needs at least one recipient.
    error Marketplace__NoRecipients();
    /// @notice A split has more recipients than `MAX_RECIPIENTS`.
    error Marketplace__TooManyRecipients(uint256 count, uint256 maxCount);
    /// @notice Recipients and shares differ in length.
    error Marketplace__LengthMismatch(uint256 recipients, uint256 shares);
    /// @notice The zero address is not a valid recipient.
    error Marketplace__ZeroRecipient(uint256 index);
    /// @notice A recipient or share word with bits set beyond its type (not ABI-encoded).
    error Marketplace__MalformedSplitData();
    /// @notice The Marketplace itself cannot be paid: its own transfers would strand funds.
    error Marketplace__MarketplaceAsRecipient();
    /// @notice The calldata recipients and shares do not hash to this split id.
    error Marketplace__WrongSplitData(bytes32 splitId);
    /// @notice The proposed split is the track's split already.
    error Marketplace__SplitUnchanged(uint256 trackId, bytes32 splitId);
    /// @notice This split change is already proposed and waiting for consents.
    error Marketplace__ProposalPending(uint256 trackId, bytes32 splitId);
    /// @notice The caller's consent is not needed (or no longer) for this split change.
    error Marketplace__ConsentNotNeeded(uint256 trackId, bytes32 splitId, address caller);
    /// @notice Ownership cannot be renounced: carried-over pools need an owner to publish.
    error Marketplace__RenounceDisabled();
    /// @notice Recipients must be sorted ascending.
    error Marketplace__RecipientsNotSorted(uint256 index, address previous, address current);
    /// @notice A recipient appears twice.
    error Marketplace__DuplicateRecipient(address recipient);
    /// @notice Every recipient needs a share above zero.
    error Marketplace__ZeroShare(address recipient);
    /// @notice Shares must sum to `TOTAL_SHARES_PPM`.
    error Marketplace__SharesSumInvalid(uint256 sum, uint256 expected);
    /// @notice No split has this id.
    error Marketplace__UnknownSplit(bytes32 splitId);
    /// @notice A track needs its metadata CID.
    error Marketplace__EmptyMetadataCid();
    /// @notice This ERC-20 is not allowed for pricing tracks.
    error Marketplace__TokenNotAllowed(address token);
    /// @notice A track priced in an ERC-20 needs a price above zero.
    error Marketplace__ZeroPriceForToken(address token);
    /// @notice The price does not fit in 88 bits.
    error Marketplace__PriceTooHigh(uint256 price, uint256 maxPrice);
    /// @notice Sales and registrations are paused.
    error Marketplace__SalesPaused();
    /// @notice No track has this id.
    error Marketplace__UnknownTrack(uint256 trackId);
    /// @notice Only the track's artist may update it.
    error Marketplace__NotArtist(uint256 trackId, address caller, address artist);
    /// @notice The track is not for sale.
    error Marketplace__TrackNotListed(uint256 trackId);
    /// @notice The amount offered is below the price.
    error Marketplace__AmountBelowPrice(uint256 amount, uint256 price);
    /// @notice For an ETH track, msg.value must equal the amount.
    error Marketplace__WrongEthValue(uint256 value, uint256 amount);
    /// @notice ETH was sent to buy a track priced in an ERC-20.
    error Marketplace__EthSentForTokenTrack(uint256 value, address token);
    /// @notice The token transfer of `sent` delivered nothing.
    error Marketplace__NothingReceived(address token, uint256 sent);
    /// @notice The account did not accept the ETH sent to it.
    error Marketplace__EthTransferFailed(address account, uint256 amount);
    /// @notice The epoch has ended: its pools no longer change.
    error Marketplace__EpochEnded(uint256 epoch, uint256 currentEpoch);
    /// @notice Deposits go at most `MAX_EPOCHS_AHEAD` epochs past the current one.
    error Marketplace__EpochTooFar(uint256 epoch, uint256 lastEpoch);
    /// @notice An epoch is published only once it has ended.
    error Marketplace__EpochNotEnded(uint256 epoch, uint256 currentEpoch);
    /// @notice The epoch is already published (or was skipped, having no pool).
    error Marketplace__EpochAlreadyPublished(uint256 epoch);
    /// @notice Epochs are published in order: `pending` has a pool and comes first.
    error Marketplace__NotNextEpoch(uint256 epoch, uint256 pending);
    /// @notice The epoch has ended: its deposits belong to its pool until it is published,
    /// or until epoch `unlockEpoch` if it never is.
    error Marketplace__DepositLocked(uint256 epoch, uint256 unlockEpoch);
    /// @notice No pool rules apply to this epoch yet.
    error Marketplace__NoPoolRules(uint256 epoch);
    /// @notice Pool rules need a non-zero hash and the CID of their text.
    error Marketplace__InvalidPoolRules();
    /// @notice An epoch length of zero.
    error Marketplace__ZeroEpochSeconds();
    /// @notice The epoch's allocations are not published yet.
    error Marketplace__EpochNotPublished(uint256 epoch);
    /// @notice An amount of zero was given.
    error Marketplace__ZeroAmount();
    /// @notice More than the sponsor deposited (or still has) in this pool.
    error Marketplace__DepositTooSmall(uint256 amount, uint256 deposited);
    /// @notice A root of zero or a report without a CID.
    error Marketplace__InvalidEpochReport();
    /// @notice One allocation and one fee per token of the epoch, in `poolTokens` order.
    error Marketplace__WrongTokenCount(uint256 given, uint256 expected);
    /// @notice Allocations plus fee exceed the pool.
    error Marketplace__AllocationAbovePool(address token, uint256 allocated, uint256 fee, uint256 pool);
    /// @notice The platform's part of a pool is at most 10% of what it pays out
    /// (allocated + fee), i.e. at most `allocated / 9`.
    error Marketplace__PoolFeeAboveCap(address token, uint256 fee, uint256 allocated);
    /// @notice The proof does not lead to the epoch's root.
    error Marketplace__InvalidProof();
    /// @notice The claims would exceed what was allocated in this token.
    error Marketplace__ClaimAboveAllocation(uint256 amount, uint256 unclaimed);
    /// @notice The listing attestation was not signed by the catalog signer for this
    /// metadata CID and registrant (`recovered` is the zero address for a malformed one).
    /// @param recovered Who signed it, as far as it can be told.
    /// @param catalogSigner Who had to sign it.
    error Marketplace__InvalidAttestation(address recovered, address catalogSigner);
    /// @notice The listing attestation's deadline has passed: ask the API for a fresh one.
    /// @param deadline Until when it was valid (unix seconds).
    /// @param timestamp The block's time.
    error Marketplace__AttestationExpired(uint256 deadline, uint256 timestamp);
    /// @notice This metadata CID was already listed with an attestation (once per CID).
    /// @param metadataCid The CID.
    error Marketplace__CidAlreadyListed(string metadataCid);
    /// @notice The track is blocked (taken down) and cannot be bought.
    /// @param trackId The blocked track.
    error Marketplace__TrackBlocked(uint256 trackId);
    /// @notice The track is already in the asked state.
    /// @param trackId The track.
    /// @param blocked Whether it is blocked.
    error Marketplace__BlockUnchanged(uint256 trackId, bool blocked);
    /// @notice A block or unblock needs the CID of its public reason.
    error Marketplace__EmptyReasonCid();
    /// @notice A release holds 1 to `MAX_RELEASE_TRACKS` tracks.
    error Marketplace__ReleaseSize(uint256 count, uint256 maxCount);
    /// @notice A release holds tracks, not other releases.
    error Marketplace__ReleaseInRelease(uint256 releaseId);
    /// @notice A track appears twice in a release.
    error Marketplace__DuplicateTrack(uint256 trackId);
    /// @notice The permit was refused (or someone else used it) and the allowance it was
    /// to give is not there.
    error Marketplace__PermitFailed(address token, uint256 allowance, uint256 amount);

    /// @param feeRecipient_ Receives platform fees.
    /// @param platformFeeBps_ Initial fee in basis points, at most `MAX_PLATFORM_FEE_BPS`.
    /// @param epochSeconds_ The length of a sponsor-pool epoch; epoch 0 starts now.
    constructor(address feeRecipient_, uint16 platformFeeBps_, uint32 epochSeconds_) Ownable(msg.sender) {
        if (feeRecipient_ == address(0)) revert Marketplace__ZeroAddress();
        if (feeRecipient_ == address(this)) revert Marketplace__MarketplaceAsRecipient();
        if (platformFeeBps_ > MAX_PLATFORM_FEE_BPS) {
            revert Marketplace__FeeAboveCap(platformFeeBps_, MAX_PLATFORM_FEE_BPS);
        }
        if (epochSeconds_ == 0) revert Marketplace__ZeroEpochSeconds();
        epochStart = block.timestamp;
        epochSeconds = epochSeconds_;
        feeRecipient = feeRecipient_;
        platformFeeBps = platformFeeBps_;
        _cachedChainId = block.chainid;
        _cachedDomainSeparator = _buildDomainSeparator();
        emit FeeRecipientChanged(address(0), feeRecipient_);
        emit PlatformFeeChanged(0, platformFeeBps_);
    }

    // ---------------------------------------------------------------- splits

    /// @notice Create (or find) the immutable split of sales among `recipients`.
    /// @param recipients Sorted ascending, unique, neither zero nor this contract; 1 to 100.
    /// @param sharesPpm Each recipient's share in parts per million, summing to 1,000,000.
    /// @return splitId keccak256(abi.encode(recipients, sharesPpm)); an existing split
    /// with the same data is returned as is, without a second event.
    function createSplit(address[] calldata recipients, uint32[] calldata sharesPpm)
        external
        returns (bytes32 splitId)
    {
        uint256 n = recipients.length;
        if (n == 0) revert Marketplace__NoRecipients();
        if (n > MAX_RECIPIENTS) revert Marketplace__TooManyRecipients(n, MAX_RECIPIENTS);
        if (sharesPpm.length != n) revert Marketplace__LengthMismatch(n, sharesPpm.length);
        uint256 sum = 0;
        uint256 previous = 0;
        uint256 self = uint256(uint160(address(this)));
        for (uint256 i = 0; i < n; ++i) {
            // Raw words and one combined test on the common path (this loop is most of the
            // gas of a large split); `_refuseRecipient` names the fault.
            uint256 r;
            uint256 share;
            bool bad;
            assembly ("memory-safe") {
                let at := shl(5, i)
                r := calldataload(add(recipients.offset, at))
                share := calldataload(add(sharesPpm.offset, at))
                bad := or(or(iszero(gt(r, previous)), shr(160, r)), or(or(iszero(share), shr(32, share)), eq(r, self)))
            }
            if (bad) _refuseRecipient(i, previous, r, share);
            // At most 100 shares below 2**32 each: no overflow.
            unchecked {
                sum += share;
            }
            previous = r;
        }
        if (sum != TOTAL_SHARES_PPM) revert Marketplace__SharesSumInvalid(sum, TOTAL_SHARES_PPM);

        (uint256 at, uint256 size) = _splitEncoding(recipients, sharesPpm);
        assembly ("memory-safe") {
            splitId := keccak256(at, size)
        }
        if (!splitExists[splitId]) {
            splitExists[splitId] = true;
            // SplitCreated(splitId, recipients, sharesPpm): its data is the encoding just
            // hashed, logged as is rather than encoded a second time.
            bytes32 topic = SplitCreated.selector;
            assembly ("memory-safe") {
                log2(at, size, topic, splitId)
            }
        }
    }

    /// @dev Revert with the reason recipient `i` (raw word `r`, share word `share`) is refused.
    function _refuseRecipient(uint256 i, uint256 previous, uint256 r, uint256 share) private view {
        if (r >> 160 != 0 || share >> 32 != 0) revert Marketplace__MalformedSplitData();
        if (r == 0) revert Marketplace__ZeroRecipient(i);
        if (r == uint256(uint160(address(this)))) revert Marketplace__MarketplaceAsRecipient();
        if (r == previous) revert Marketplace__DuplicateRecipient(address(uint160(r)));
        if (r < previous) revert Marketplace__RecipientsNotSorted(i, address(uint160(previous)), address(uint160(r)));
        revert Marketplace__ZeroShare(address(uint160(r)));
    }

    /// @notice Sales and claims credited to a split and not yet allotted to its payees.
    function splitBalance(bytes32 splitId, address token) external view returns (uint256) {
        return _unsentinel(_splitBalance[token][splitId]);
    }

    /// @notice Allot the split's balance in `token` to its payees by share. Anyone may call;
    /// with nothing to allot it does nothing.
    /// @param recipients The split's recipients and `sharesPpm` its shares, exactly as in
    /// `SplitCreated` (they must hash to `splitId`).
    /// @return amount What was allotted (zero if the balance was already distributed).
    /// @dev Gas grows with the number of recipients, never with the number of sales.
    function distribute(bytes32 splitId, address token, address[] calldata recipients, uint32[] calldata sharesPpm)
        external
        returns (uint256 amount)
    {
        if (_splitHash(recipients, sharesPpm) != splitId) revert Marketplace__WrongSplitData(splitId);
        mapping(bytes32 => uint256) storage balances = _splitBalance[token];
        uint256 stored = balances[splitId];
        if (stored < 2) return 0;
        amount = stored - 1;
        // amount * share must stay below 2**256 in the loop: a larger balance (only a token
        // with an absurd supply has one) goes out over several calls instead of sticking.
        uint256 most = type(uint256).max / TOTAL_SHARES_PPM;
        if (amount > most) amount = most;
        balances[splitId] = stored - amount;

        uint256 owedOfToken = _mappingSlot(_owedSlot(), uint256(uint160(token)));
        uint256 allotted = 0;
        // The hash matched a split `createSplit` checked: recipients are clean non-zero
        // addresses, shares clean and summing to 1e6, so no part exceeds `amount`.
        for (uint256 i = 1; i < recipients.length; ++i) {
            uint256 recipient;
            uint256 part;
            assembly ("memory-safe") {
                let at := shl(5, i)
                recipient := calldataload(add(recipients.offset, at))
                part := div(mul(amount, calldataload(add(sharesPpm.offset, at))), 1000000)
            }
            if (part != 0) {
                _credit(_mappingSlot(owedOfToken, recipient), part);
                allotted += part;
            }
        }
        // The first recipient's share plus every rounding remainder: nothing is lost.
        _credit(_mappingSlot(owedOfToken, uint256(uint160(recipients[0]))), amount - allotted);
        emit SplitDistributed(splitId, token, amount);
    }

    /// @dev keccak256(abi.encode(recipients, sharesPpm)), built by copying the calldata
    /// (abi.encode would re-check every element; callers either check them or compare the
    /// hash with a split whose elements were checked).
    function _splitHash(address[] calldata recipients, uint32[] calldata sharesPpm) private pure returns (bytes32 h) {
        (uint256 at, uint256 size) = _splitEncoding(recipients, sharesPpm);
        assembly ("memory-safe") {
            h := keccak256(at, size)
        }
    }

    /// @dev Write abi.encode(recipients, sharesPpm) at the free memory pointer (without
    /// allocating it: the caller uses it at once) and return where and how long.
    function _splitEncoding(address[] calldata recipients, uint32[] calldata sharesPpm)
        private
        pure
        returns (uint256 at, uint256 size)
    {
        assembly ("memory-safe") {
            at := mload(0x40)
            let n := shl(5, recipients.length)
            let m := shl(5, sharesPpm.length)
            mstore(at, 0x40)
            mstore(add(at, 0x20), add(0x60, n))
            mstore(add(at, 0x40), recipients.length)
            calldatacopy(add(at, 0x60), recipients.offset, n)
            mstore(add(at, add(0x60, n)), sharesPpm.length)
            calldatacopy(add(at, add(0x80, n)), sharesPpm.offset, m)
            size := add(0x80, add(n, m))
        }
    }

    /// @dev Add `amount` to the balance at `slot`, setting the sentinel on its first credit.
    function _credit(uint256 slot, uint256 amount) private {
        assembly ("memory-safe") {
            let stored := sload(slot)
            let sum := add(stored, amount)
            let credited := add(sum, iszero(stored))
            // Overflow (only a token with a supply near 2**256 could): Panic(0x11), as
            // checked arithmetic would.
            if or(lt(sum, stored), iszero(credited)) {
                mstore(0, shl(224, 0x4e487b71))
                mstore(4, 0x11)
                revert(0, 0x24)
            }
            sstore(slot, credited)
        }
    }

    /// @dev The storage slot of `mapping[key]` for a mapping at `slot` (Solidity's layout).
    function _mappingSlot(uint256 slot, uint256 key) private pure returns (uint256 result) {
        assembly ("memory-safe") {
            mstore(0, key)
            mstore(0x20, slot)
            result := keccak256(0, 0x40)
        }
    }

    function _owedSlot() private pure returns (uint256 slot) {
        assembly ("memory-safe") {
            slot := _owed.slot
        }
    }

    function _owedOf(address account, address token) private pure returns (uint256) {
        return _mappingSlot(_mappingSlot(_owedSlot(), uint256(uint160(token))), uint256(uint160(account)));
    }

    function _splitBalanceOf(bytes32 splitId, address token) private pure returns (uint256 slot) {
        assembly ("memory-safe") {
            slot := _splitBalance.slot
        }
        return _mappingSlot(_mappingSlot(slot, uint256(uint160(token))), uint256(splitId));
    }

    function _unsentinel(uint256 stored) private pure returns (uint256) {
        return stored == 0 ? 0 : stored - 1;
    }

    // ---------------------------------------------------------------- tracks

    /// @notice List a track for sale; the caller becomes its artist.
    /// @param metadataCid IPFS CID of the track's metadata JSON.
    /// @param splitId An existing split that receives the payees' part of each sale.
    /// @param token The zero address for ETH, or an allowed ERC-20.
    /// @param price Minimum amount in the token's base unit (fans may pay more); above
    /// zero for ERC-20 tracks.
    /// @param attestation While a catalog signer is set: a 32-byte deadline (unix seconds)
    /// followed by the signer's 65-byte EIP-712 signature of Listing(metadataCid,
    /// msg.sender, deadline); each CID is then listed once. Ignored (may be empty) while no
    /// signer is set.
    /// @return trackId The new track's id (ids start at 1).
    function registerTrack(
        string calldata metadataCid,
        bytes32 splitId,
        address token,
        uint256 price,
        bytes calldata attestation
    ) external returns (uint256 trackId) {
        trackId = _register(metadataCid, splitId, token, price, attestation, LISTED, 0);
        emit TrackRegistered(trackId, msg.sender, splitId, token, price, metadataCid);
    }

    /// @notice List a release (album, EP) of the caller's tracks; the caller becomes its
    /// artist. Its id comes from the track id space, and it is bought with `buy` like a
    /// track; its price, token and split are its own.
    /// @param metadataCid IPFS CID of the release's metadata JSON (which names the tracks).
    /// @param trackIds 1 to `MAX_RELEASE_TRACKS` distinct tracks, in order, each registered
    /// by the caller and not blocked (they need not be for sale on their own).
    /// @param attestation As for `registerTrack`, but the signature is of EIP-712
    /// Release(metadataCid, msg.sender, splitId, trackIds, deadline) (`releaseDigest`).
    /// @return releaseId The new release's id.
    function registerRelease(
        string calldata metadataCid,
        bytes32 splitId,
        address token,
        uint256 price,
        uint256[] calldata trackIds,
        bytes calldata attestation
    ) external returns (uint256 releaseId) {
        uint256 n = trackIds.length;
        if (n == 0 || n > MAX_RELEASE_TRACKS) revert Marketplace__ReleaseSize(n, MAX_RELEASE_TRACKS);
        releaseId = _register(
            metadataCid, splitId, token, price, attestation, LISTED | RELEASE, keccak256(abi.encodePacked(trackIds))
        );
        _setReleaseTracks(releaseId, trackIds);
        _emitRelease(releaseId, splitId, token, price, metadataCid, trackIds);
    }

    /// @dev Check and store a new release's tracks.
    function _setReleaseTracks(uint256 releaseId, uint256[] calldata trackIds) private {
        for (uint256 i = 0; i < trackIds.length; ++i) {
            uint256 id = trackIds[i];
            Track storage track = _tracks[id];
            address artist = track.artist;
            if (artist == address(0)) revert Marketplace__UnknownTrack(id);
            if (artist != msg.sender) revert Marketplace__NotArtist(id, msg.sender, artist);
            uint8 flags = track.flags;
            if (flags & RELEASE != 0) revert Marketplace__ReleaseInRelease(id);
            if (flags & BLOCKED != 0) revert Marketplace__TrackBlocked(id);
            // Seen-marks in transient storage, keyed by the new release (unique even when a
            // multicall registers several): 100 gas a track instead of comparing pairs.
            bytes32 seen = keccak256(abi.encode(releaseId, id));
            bool twice;
            assembly ("memory-safe") {
                twice := tload(seen)
                tstore(seen, 1)
            }
            if (twice) revert Marketplace__DuplicateTrack(id);
        }
        _releaseTracks[releaseId] = trackIds;
    }

    /// @dev Apart from `registerRelease` only for the stack (its arguments fill it).
    function _emitRelease(
        uint256 releaseId,
        bytes32 splitId,
        address token,
        uint256 price,
        string calldata metadataCid,
        uint256[] calldata trackIds
    ) private {
        emit ReleaseRegistered(releaseId, msg.sender, splitId, token, price, metadataCid, trackIds);
    }

    /// @notice The tracks of release `releaseId`, in order (empty for a track or an unknown id).
    function releaseTracks(uint256 releaseId) external view returns (uint256[] memory) {
        return _releaseTracks[releaseId];
    }

    function _register(
        string calldata metadataCid,
        bytes32 splitId,
        address token,
        uint256 price,
        bytes calldata attestation,
        uint8 flags,
        bytes32 tracksHash
    ) private returns (uint256 id) {
        if (salesPaused) revert Marketplace__SalesPaused();
        if (bytes(metadataCid).length == 0) revert Marketplace__EmptyMetadataCid();
        _checkAttestation(metadataCid, splitId, tracksHash, attestation);
        _checkListing(splitId, token, price);

        id = ++trackCount;
        _tracks[id] = Track({
            splitId: splitId,
            token: token,
            price: uint88(price),
            flags: flags,
            artist: msg.sender,
            splitChanges: 0
        });
    }

    /// @notice Change a track's price or listing. Only the track's artist may; its split
    /// changes through `proposeSplit`.
    /// @dev The token is fixed at registration: buyers' approvals and the ledger rely on it.
    function updateTrack(uint256 trackId, uint256 price, bool listed) external {
        Track storage track = _ownTrack(trackId);
        address token = track.token;
        if (price == 0 && token != address(0)) revert Marketplace__ZeroPriceForToken(token);
        if (price > MAX_PRICE) revert Marketplace__PriceTooHigh(price, MAX_PRICE);
        track.price = uint88(price);
        // The artist sets the listing; a block (and being a release) stays as it is.
        track.flags = (track.flags & (BLOCKED | RELEASE)) | (listed ? LISTED : 0);
        emit TrackUpdated(trackId, price, listed);
    }

    /// @notice Move a track's future sales to another existing split. Only the artist may.
    /// If no payee of the current split would get a smaller share (leaving counts as zero),
    /// it takes effect now; otherwise each such payee, other than the artist, must call
    /// `acceptSplit` first (until another change lands or the artist cancels it).
    /// @param current The track's current split data; `next` the proposed split's.
    /// @return changed Whether the split changed now.
    function proposeSplit(uint256 trackId, SplitData calldata current, SplitData calldata next)
        external
        returns (bool changed)
    {
        Track storage track = _ownTrack(trackId);
        bytes32 from = track.splitId;
        if (_splitHash(current.recipients, current.sharesPpm) != from) revert Marketplace__WrongSplitData(from);
        bytes32 to = _splitHash(next.recipients, next.sharesPpm);
        if (!splitExists[to]) revert Marketplace__UnknownSplit(to);
        if (to == from) revert Marketplace__SplitUnchanged(trackId, to);
        address[] memory losers = _losers(current, next);
        if (losers.length == 0) {
            _changeSplit(track, trackId, to);
            return true;
        }
        bytes32 proposal = _proposalKey(trackId, track.splitChanges, to);
        if (_consentsMissing[proposal] != 0) revert Marketplace__ProposalPending(trackId, to);
        _consentsMissing[proposal] = losers.length;
        for (uint256 i = 0; i < losers.length; ++i) {
            _consentNeeded[proposal][losers[i]] = true;
        }
        emit SplitChangeProposed(trackId, to, losers);
        return false;
    }

    /// @notice Consent, as a payee who would lose share, to moving track `trackId` to split
    /// `splitId` as its artist proposed; the last consent makes the change.
    /// @return changed Whether the split changed now.
    function acceptSplit(uint256 trackId, bytes32 splitId) external returns (bool changed) {
        Track storage track = _tracks[trackId];
        bytes32 proposal = _proposalKey(trackId, track.splitChanges, splitId);
        if (!_consentNeeded[proposal][msg.sender]) revert Marketplace__ConsentNotNeeded(trackId, splitId, msg.sender);
        _consentNeeded[proposal][msg.sender] = false;
        uint256 missing = _consentsMissing[proposal] - 1;
        _consentsMissing[proposal] = missing;
        emit SplitChangeAccepted(trackId, splitId, msg.sender, missing);
        if (missing != 0) return false;
        _changeSplit(track, trackId, splitId);
        return true;
    }

    /// @notice Withdraw every pending split-change proposal of a track (only its artist):
    /// consents given so far no longer count, and none can be given any more.
    function cancelSplitProposals(uint256 trackId) external {
        Track storage track = _ownTrack(trackId);
        ++track.splitChanges;
        emit SplitProposalsCancelled(trackId);
    }

    /// @notice How many consents moving track `trackId` to split `splitId` still needs (zero
    /// when no such proposal is pending), and whether `payee`'s is one of them.
    function pendingSplitChange(uint256 trackId, bytes32 splitId, address payee)
        external
        view
        returns (uint256 missing, bool payeeMustConsent)
    {
        bytes32 proposal = _proposalKey(trackId, _tracks[trackId].splitChanges, splitId);
        return (_consentsMissing[proposal], _consentNeeded[proposal][payee]);
    }

    function _ownTrack(uint256 trackId) private view returns (Track storage track) {
        track = _tracks[trackId];
        address artist = track.artist;
        if (artist == address(0)) revert Marketplace__UnknownTrack(trackId);
        if (msg.sender != artist) revert Marketplace__NotArtist(trackId, msg.sender, artist);
    }

    function _proposalKey(uint256 trackId, uint256 splitChanges, bytes32 splitId) private pure returns (bytes32) {
        return keccak256(abi.encode(trackId, splitChanges, splitId));
    }

    function _changeSplit(Track storage track, uint256 trackId, bytes32 splitId) private {
        emit TrackSplitChanged(trackId, track.splitId, splitId);
        track.splitId = splitId;
        // Every other proposal for this track dies with the count it was made at.
        ++track.splitChanges;
    }

    /// @dev The payees of `current` (other than the caller) whose share `next` lowers.
    /// Both recipient lists are sorted ascending (createSplit checked them), so one merge
    /// pass finds them.
    function _losers(SplitData calldata current, SplitData calldata next) private view returns (address[] memory losers) {
        uint256 n = current.recipients.length;
        uint256 m = next.recipients.length;
        losers = new address[](n);
        uint256 count = 0;
        uint256 j = 0;
        for (uint256 i = 0; i < n; ++i) {
            address r = current.recipients[i];
            while (j < m && next.recipients[j] < r) ++j;
            uint256 kept = j < m && next.recipients[j] == r ? next.sharesPpm[j] : 0;
            if (kept < current.sharesPpm[i] && r != msg.sender) losers[count++] = r;
        }
        assembly ("memory-safe") {
            mstore(losers, count)
        }
    }

    /// @notice A track's listing; `artist` is the zero address for an unknown id. `listed`
    /// is the artist's choice; a `blocked` track cannot be bought whatever it says.
    function tracks(uint256 trackId)
        external
        view
        returns (address artist, bytes32 splitId, address token, uint256 price, bool listed, bool blocked)
    {
        Track storage track = _tracks[trackId];
        uint8 flags = track.flags;
        return (track.artist, track.splitId, track.token, track.price, flags & LISTED != 0, flags & BLOCKED != 0);
    }

    /// @notice The EIP-712 digest the catalog signer signs to let `registrant` list
    /// `metadataCid` with split `splitId` on this contract and chain until `deadline`.
    /// @param metadataCid The metadata CID to be listed.
    /// @param registrant The wallet that will call `registerTrack`.
    /// @param splitId The split the track will be listed with.
    /// @param deadline The last unix second the attestation is valid.
    function listingDigest(string calldata metadataCid, address registrant, bytes32 splitId, uint256 deadline)
        public
        view
        returns (bytes32)
    {
        return MessageHashUtils.toTypedDataHash(
            _domainSeparator(),
            keccak256(abi.encode(LISTING_TYPEHASH, keccak256(bytes(metadataCid)), registrant, splitId, deadline))
        );
    }

    /// @notice The EIP-712 digest the catalog signer signs to let `registrant` list the
    /// release `metadataCid` of tracks `trackIds` (in order) with split `splitId` until
    /// `deadline`.
    /// @param metadataCid The release's metadata CID.
    /// @param registrant The wallet that will call `registerRelease`.
    /// @param splitId The split the release will be listed with.
    /// @param trackIds Its tracks, in order.
    /// @param deadline The last unix second the attestation is valid.
    function releaseDigest(
        string calldata metadataCid,
        address registrant,
        bytes32 splitId,
        uint256[] calldata trackIds,
        uint256 deadline
    ) external view returns (bytes32) {
        return _releaseDigest(metadataCid, registrant, splitId, keccak256(abi.encodePacked(trackIds)), deadline);
    }

    function _releaseDigest(
        string calldata metadataCid,
        address registrant,
        bytes32 splitId,
        bytes32 tracksHash,
        uint256 deadline
    ) private view returns (bytes32) {
        return MessageHashUtils.toTypedDataHash(
            _domainSeparator(),
            keccak256(abi.encode(RELEASE_TYPEHASH, keccak256(bytes(metadataCid)), registrant, splitId, tracksHash, deadline))
        );
    }

    /// @notice The EIP-712 digest a listener signs to have a free download of `trackId`
    /// counted in epoch `epoch` (FreeDownload(uint256 trackId,uint256 epoch), same domain).
    /// @param trackId The free track downloaded.
    /// @param epoch The epoch it counts in.
    function freeDownloadDigest(uint256 trackId, uint256 epoch) external view returns (bytes32) {
        return MessageHashUtils.toTypedDataHash(
            _domainSeparator(), keccak256(abi.encode(FREE_DOWNLOAD_TYPEHASH, trackId, epoch))
        );
    }

    function _domainSeparator() private view returns (bytes32) {
        return block.chainid == _cachedChainId ? _cachedDomainSeparator : _buildDomainSeparator();
    }

    function _buildDomainSeparator() private view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256("Ninety"), keccak256("1"), block.chainid, address(this)));
    }

    /// @dev `tracksHash` is zero for a track, keccak256 of a release's track ids (never zero).
    function _checkAttestation(string calldata metadataCid, bytes32 splitId, bytes32 tracksHash, bytes calldata attestation)
        private
    {
        address signer = catalogSigner;
        if (signer == address(0)) return;
        if (attestation.length != 97) revert Marketplace__InvalidAttestation(address(0), signer);
        uint256 deadline = uint256(bytes32(attestation[:32]));
        if (block.timestamp > deadline) revert Marketplace__AttestationExpired(deadline, block.timestamp);
        bytes32 digest = tracksHash == 0
            ? listingDigest(metadataCid, msg.sender, splitId, deadline)
            : _releaseDigest(metadataCid, msg.sender, splitId, tracksHash, deadline);
        // tryRecover refuses malleable (high-s) and malformed signatures without reverting.
        // The third value only details `failure` (e.g. the bad length): not needed.
        // slither-disable-next-line unused-return
        (address recovered, ECDSA.RecoverError failure,) = ECDSA.tryRecover(digest, attestation[32:]);
        if (failure != ECDSA.RecoverError.NoError || recovered != signer) {
            revert Marketplace__InvalidAttestation(recovered, signer);
        }
        bytes32 cidHash = keccak256(bytes(metadataCid));
        if (_attestedCid[cidHash]) revert Marketplace__CidAlreadyListed(metadataCid);
        _attestedCid[cidHash] = true;
    }

    function _checkListing(bytes32 splitId, address token, uint256 price) private view {
        if (!splitExists[splitId]) revert Marketplace__UnknownSplit(splitId);
        if (token != address(0)) {
            if (!tokenAllowed[token]) revert Marketplace__TokenNotAllowed(token);
            if (price == 0) revert Marketplace__ZeroPriceForToken(token);
        }
        if (price > MAX_PRICE) revert Marketplace__PriceTooHigh(price, MAX_PRICE);
    }

    // ---------------------------------------------------------------- sales

    /// @notice Buy a track or a release, paying `amount` (at least its price) in its token.
    /// For ETH listings send exactly `amount` as msg.value; for ERC-20 ones approve
    /// `amount` first (or use `buyWithPermit`) and send no ETH. The fee is
    /// `amount * platformFeeBps / 10,000` rounded down; the rest goes to the listing's split.
    /// A release cannot be bought while any of its tracks is blocked.
    /// @dev An ERC-20 sale is credited by the balance actually received, so a
    /// fee-on-transfer token cannot make the contract owe more than it holds.
    function buy(uint256 trackId, uint256 amount) external payable {
        _buy(trackId, amount);
    }

    /// @notice Buy a track or a release priced in an ERC-20 that supports EIP-2612, in one
    /// transaction: the buyer signs a permit for this contract to take `amount` until
    /// `deadline` (v, r, s), and the purchase goes on as `buy`. A permit someone else
    /// already submitted (front-running it) does not fail the purchase when the allowance
    /// it gave is there. For an ETH listing the permit is ignored (as `buy` with no ETH).
    function buyWithPermit(uint256 id, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
    {
        address token = _tracks[id].token;
        if (token != address(0)) {
            // A failed permit is not the end: a front-runner may have submitted it already,
            // which leaves the allowance it gave; only a missing allowance stops the sale.
            try IERC20Permit(token).permit(msg.sender, address(this), amount, deadline, v, r, s) {}
            catch {
                uint256 allowance = IERC20(token).allowance(msg.sender, address(this));
                if (allowance < amount) revert Marketplace__PermitFailed(token, allowance, amount);
            }
        }
        _buy(id, amount);
    }

    function _buy(uint256 trackId, uint256 amount) private {
        // One slot read: fee recipient, fee and pause flag are packed together.
        address recipient = feeRecipient;
        uint256 feeBps = platformFeeBps;
        if (salesPaused) revert Marketplace__SalesPaused();

        Track storage track = _tracks[trackId];
        address token = track.token;
        uint256 price = track.price;
        uint256 flags = track.flags;
        // A track for sale takes no branch; anything else (a release too) is checked here.
        if (flags != LISTED) {
            if (track.artist == address(0)) revert Marketplace__UnknownTrack(trackId);
            if (flags & BLOCKED != 0) revert Marketplace__TrackBlocked(trackId);
            if (flags & LISTED == 0) revert Marketplace__TrackNotListed(trackId);
            _checkReleaseTracks(trackId);
        }
        if (amount < price) revert Marketplace__AmountBelowPrice(amount, price);

        if (token == address(0)) {
            if (msg.value != amount) revert Marketplace__WrongEthValue(msg.value, amount);
        } else {
            amount = _receiveTokenLocked(token, amount);
        }

        uint256 fee = (amount * feeBps) / 10_000;
        uint256 net;
        // feeBps <= 1,000 < 10,000, so fee <= amount: the subtraction cannot underflow.
        unchecked {
            net = amount - fee;
        }
        bytes32 splitId = track.splitId;
        _credit(_splitBalanceOf(splitId, token), net);
        if (fee != 0) _credit(_owedOf(recipient, token), fee);
        emit Sale(trackId, msg.sender, token, amount, fee, splitId);
    }

    /// @dev A release is sold only while none of its tracks is blocked (a takedown of one
    /// recording stops sales of every release holding it).
    function _checkReleaseTracks(uint256 releaseId) private view {
        uint256[] storage ids = _releaseTracks[releaseId];
        uint256 n = ids.length;
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = ids[i];
            if (_tracks[id].flags & BLOCKED != 0) revert Marketplace__TrackBlocked(id);
        }
    }

    // ---------------------------------------------------------------- withdrawals

    /// @notice What `account` can withdraw now in `token` (the zero address for ETH).
    /// Split balances not yet distributed are not included: see `splitBalance`.
    function owed(address account, address token) external view returns (uint256) {
        return _unsentinel(_owed[token][account]);
    }

    /// @notice Pay `account` everything it is owed in each of `tokens`. Anyone may call it
    /// (the funds only ever go to `account`); it is never paused, and a token with nothing
    /// owed is skipped.
    /// @dev An account that rejects ETH makes only its own withdrawal revert; it can still
    /// be paid elsewhere with `withdrawTo`.
    function withdraw(address account, address[] calldata tokens) external nonReentrant {
        _withdraw(account, account, tokens);
    }

    /// @notice Pay everything the caller is owed in each of `tokens` to `to` (for a payee
    /// that cannot receive ETH or is blocklisted by a token). Never paused; a token with
    /// nothing owed is skipped.
    function withdrawTo(address to, address[] calldata tokens) external nonReentrant {
        if (to == address(0)) revert Marketplace__ZeroAddress();
        if (to == address(this)) revert Marketplace__MarketplaceAsRecipient();
        _withdraw(msg.sender, to, tokens);
    }

    /// @dev Checks-effects-interactions under a reentrancy lock: effects first for every
    /// token, then the transfers, so no state is written after an external call, even
    /// across iterations. A withdrawal leaves the sentinel 1 in the slot.
    function _withdraw(address account, address to, address[] calldata tokens) private {
        uint256 n = tokens.length;
        uint256[] memory amounts = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            address token = tokens[i];
            mapping(address => uint256) storage balances = _owed[token];
            uint256 stored = balances[account];
            if (stored < 2) continue;
            uint256 amount = stored - 1;
            balances[account] = 1;
            amounts[i] = amount;
            emit Withdrawal(account, token, amount, to);
        }
        for (uint256 i = 0; i < n; ++i) {
            uint256 amount = amounts[i];
            if (amount != 0) _send(to, tokens[i], amount);
        }
    }

    // ---------------------------------------------------------------- sponsor pools

    /// @notice The tokens deposited into an epoch's pool, in the order `publishEpoch`
    /// takes their allocations and fees.
    function poolTokens(uint256 epoch) external view returns (address[] memory) {
        return _poolTokens[epoch];
    }

    /// @notice The epoch `block.timestamp` falls in.
    function currentEpoch() public view returns (uint256) {
        return (block.timestamp - epochStart) / epochSeconds;
    }

    /// @notice The hash of the pool rules that allocate epoch `epoch`'s pools (zero if
    /// none were committed for it).
    /// @param epoch The epoch.
    function poolRulesHash(uint256 epoch) public view returns (bytes32) {
        for (uint256 i = _poolRules.length; i > 0; --i) {
            PoolRules storage rules = _poolRules[i - 1];
            if (rules.fromEpoch <= epoch) return rules.rulesHash;
        }
        return bytes32(0);
    }

    /// @notice Commit the pool rules (qualifying amounts, window, multiplier, fee rate) for
    /// every epoch from the next one on; epoch 0's may be set during epoch 0 until the
    /// first deposit. Rules never change for an epoch that has begun.
    /// @param rulesHash keccak256 of the rules' canonical JSON.
    /// @param rulesCid IPFS CID of that JSON.
    function setPoolRules(bytes32 rulesHash, string calldata rulesCid) external onlyOwner {
        if (rulesHash == bytes32(0) || bytes(rulesCid).length == 0) revert Marketplace__InvalidPoolRules();
        uint256 current = currentEpoch();
        // Epoch numbers, not timestamps: exact comparisons are the point.
        // slither-disable-next-line incorrect-equality
        uint256 fromEpoch = current == 0 && !_depositsMade ? 0 : current + 1;
        uint256 n = _poolRules.length;
        // slither-disable-next-line incorrect-equality
        if (n != 0 && _poolRules[n - 1].fromEpoch == fromEpoch) {
            _poolRules[n - 1].rulesHash = rulesHash;
        } else {
            _poolRules.push(PoolRules({fromEpoch: uint64(fromEpoch), rulesHash: rulesHash}));
        }
        emit PoolRulesSet(fromEpoch, rulesHash, rulesCid);
    }

    /// @notice Put `amount` of `token` (the zero address for ETH, sent as msg.value) into
    /// the pool of `epoch`: the current one or at most `MAX_EPOCHS_AHEAD` later, with pool
    /// rules committed for it. An ERC-20 must be allowed and approved; the amount actually
    /// received is credited.
    function depositToPool(uint256 epoch, address token, uint256 amount) external payable nonReentrant {
        uint256 current = currentEpoch();
        if (epoch < current) revert Marketplace__EpochEnded(epoch, current);
        if (epoch > current + MAX_EPOCHS_AHEAD) revert Marketplace__EpochTooFar(epoch, current + MAX_EPOCHS_AHEAD);
        if (amount == 0) revert Marketplace__ZeroAmount();
        if (poolRulesHash(epoch) == bytes32(0)) revert Marketplace__NoPoolRules(epoch);
        uint256 received = _receive(token, amount);
        _depositsMade = true;
        poolDeposit[epoch][msg.sender][token] += received;
        _addToPool(epoch, token, received);
        emit PoolDeposited(epoch, msg.sender, token, received);
    }

    /// @notice Take back `amount` of what the caller deposited into `epoch`'s pool: at any
    /// time before the epoch ends, or once it is still unpublished `RESCUE_EPOCHS` epochs
    /// after its end. Otherwise an ended epoch's pool belongs to the artists.
    function withdrawPoolDeposit(uint256 epoch, address token, uint256 amount) external nonReentrant {
        uint256 current = currentEpoch();
        if (epoch < current) {
            if (epoch < nextEpochToPublish) revert Marketplace__EpochAlreadyPublished(epoch);
            uint256 unlock = epoch + 1 + RESCUE_EPOCHS;
            if (current < unlock) revert Marketplace__DepositLocked(epoch, unlock);
        }
        if (amount == 0) revert Marketplace__ZeroAmount();
        uint256 deposited = poolDeposit[epoch][msg.sender][token];
        if (amount > deposited) revert Marketplace__DepositTooSmall(amount, deposited);
        poolDeposit[epoch][msg.sender][token] = deposited - amount;
        poolBalance[epoch][token] -= amount;
        emit PoolDepositWithdrawn(epoch, msg.sender, token, amount);
        _send(msg.sender, token, amount);
    }

    /// @notice Publish ended epoch `epoch`: the Merkle root of its allocations, the root of
    /// its counted free downloads and the CID of the full report. Epochs are published in
    /// order; those without any pool in between are skipped. Per pool token (in
    /// `poolTokens(epoch)` order), `allocated` becomes claimable and `platformFees` (at
    /// most `allocated / 9`) is credited to the fee recipient; the rest carries over to the
    /// current epoch's pool.
    /// @dev The contract cannot read the leaves, so it bounds what they can take: claims
    /// in a token never exceed `allocated`, which with the fee never exceeds the pool.
    function publishEpoch(
        uint256 epoch,
        bytes32 root,
        bytes32 listensRoot,
        string calldata reportCid,
        uint256[] calldata allocated,
        uint256[] calldata platformFees
    ) external onlyOwner {
        uint256 current = currentEpoch();
        if (epoch >= current) revert Marketplace__EpochNotEnded(epoch, current);
        if (epoch < nextEpochToPublish) revert Marketplace__EpochAlreadyPublished(epoch);
        uint256 pending = _firstFunded(nextEpochToPublish, epoch);
        if (pending != epoch) revert Marketplace__NotNextEpoch(epoch, pending);
        if (root == bytes32(0) || bytes(reportCid).length == 0) revert Marketplace__InvalidEpochReport();
        address[] storage tokens = _poolTokens[epoch];
        uint256 n = tokens.length;
        if (allocated.length != n) revert Marketplace__WrongTokenCount(allocated.length, n);
        if (platformFees.length != n) revert Marketplace__WrongTokenCount(platformFees.length, n);
        for (uint256 i = 0; i < n; ++i) {
            _settle(epoch, tokens[i], allocated[i], platformFees[i], current);
        }
        epochRoot[epoch] = root;
        nextEpochToPublish = epoch + 1;
        emit EpochPublished(epoch, root, listensRoot, reportCid);
    }

    /// @dev The first epoch in [from, to) with a pool, or `to`; reads one word per 256 epochs.
    function _firstFunded(uint256 from, uint256 to) private view returns (uint256) {
        while (from < to) {
            uint256 bits = _fundedEpochs[from >> 8] >> (from & 255);
            if (bits != 0) {
                // slither-disable-next-line incorrect-equality
                while (bits & 1 == 0) {
                    bits >>= 1;
                    ++from;
                }
                return from < to ? from : to;
            }
            from = (from | 255) + 1;
        }
        return to;
    }

    function _addToPool(uint256 epoch, address token, uint256 amount) private {
        poolBalance[epoch][token] += amount;
        if (!_poolHasToken[epoch][token]) {
            _poolHasToken[epoch][token] = true;
            _poolTokens[epoch].push(token);
            _fundedEpochs[epoch >> 8] |= 1 << (epoch & 255);
        }
    }

    function _settle(uint256 epoch, address token, uint256 allocated, uint256 fee, uint256 carryTo) private {
        uint256 pool = poolBalance[epoch][token];
        if (allocated > pool || fee > pool - allocated) revert Marketplace__AllocationAbovePool(token, allocated, fee, pool);
        // fee <= 10% of (allocated + fee): nothing allocated, nothing charged, so money
        // carried from epoch to epoch is never charged twice.
        if (fee * (10_000 - MAX_PLATFORM_FEE_BPS) > allocated * MAX_PLATFORM_FEE_BPS) {
            revert Marketplace__PoolFeeAboveCap(token, fee, allocated);
        }
        uint256 carried = pool - allocated - fee;
        poolBalance[epoch][token] = 0;
        poolUnclaimed[epoch][token] = allocated;
        if (fee != 0) _credit(_owedOf(feeRecipient, token), fee);
        if (carried != 0) _addToPool(carryTo, token, carried);
        emit PoolSettled(epoch, token, pool, allocated, fee, carried, carryTo);
    }

    /// @notice Claim one allocation of a published epoch into split `splitId`'s balance
    /// (then `distribute` and `withdraw` as for sales). Anyone may call it: the funds only
    /// ever go to the split. Each allocation is paid once, at any time after; claiming it
    /// again does nothing.
    /// @return claimed Whether this call claimed it (false: it was already claimed).
    function claimFromPool(uint256 epoch, bytes32 splitId, address token, uint256 amount, bytes32[] calldata proof)
        external
        returns (bool claimed)
    {
        bytes32 root = epochRoot[epoch];
        if (root == bytes32(0)) revert Marketplace__EpochNotPublished(epoch);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(epoch, splitId, token, amount))));
        if (poolClaimed[epoch][leaf]) return false;
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert Marketplace__InvalidProof();
        if (!splitExists[splitId]) revert Marketplace__UnknownSplit(splitId);
        uint256 unclaimed = poolUnclaimed[epoch][token];
        if (amount > unclaimed) revert Marketplace__ClaimAboveAllocation(amount, unclaimed);
        poolClaimed[epoch][leaf] = true;
        poolUnclaimed[epoch][token] = unclaimed - amount;
        _credit(_splitBalanceOf(splitId, token), amount);
        emit PoolClaimed(epoch, splitId, token, amount);
        return true;
    }

    /// @dev Take `amount` of `token` from the caller; returns what actually arrived (a
    /// token that delivers nothing, a 100% transfer fee, is refused).
    function _receive(address token, uint256 amount) private returns (uint256) {
        if (token == address(0)) {
            if (msg.value != amount) revert Marketplace__WrongEthValue(msg.value, amount);
            return amount;
        }
        return _receiveToken(token, amount);
    }

    /// @dev `_receiveToken` under the reentrancy lock, for `buy`: an ETH sale makes no
    /// external call and needs no lock, a token sale does (a token that calls back into
    /// `buy` mid-transfer would otherwise be counted twice by the balance difference).
    function _receiveTokenLocked(address token, uint256 amount) private nonReentrant returns (uint256) {
        return _receiveToken(token, amount);
    }

    function _receiveToken(address token, uint256 amount) private returns (uint256) {
        if (msg.value != 0) revert Marketplace__EthSentForTokenTrack(msg.value, token);
        if (!tokenAllowed[token]) revert Marketplace__TokenNotAllowed(token);
        uint256 before = _balanceOfSelf(token);
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = _balanceOfSelf(token) - before;
        // slither-disable-next-line incorrect-equality
        if (received == 0) revert Marketplace__NothingReceived(token, amount);
        return received;
    }

    /// @dev `token.balanceOf(this)` without the ABI decoder's overhead (a sale calls it
    /// twice); a revert or a short answer reverts, bubbling the token's reason.
    function _balanceOfSelf(address token) private view returns (uint256 held) {
        assembly ("memory-safe") {
            mstore(0, shl(224, 0x70a08231))
            mstore(4, address())
            // Arguments are evaluated right to left: the call runs before returndatasize.
            if iszero(and(gt(returndatasize(), 31), staticcall(gas(), token, 0, 0x24, 0, 0x20))) {
                let at := mload(0x40)
                returndatacopy(at, 0, returndatasize())
                revert(at, returndatasize())
            }
            held := mload(0)
        }
    }

    /// @dev Pay `amount` of `token` to `to` (after every state change).
    function _send(address to, address token, uint256 amount) private {
        if (token == address(0)) {
            // slither-disable-next-line arbitrary-send-eth
            (bool ok,) = to.call{value: amount}("");
            if (!ok) revert Marketplace__EthTransferFailed(to, amount);
        } else {
            IERC20(token).safeTransfer(to, amount);
        }
    }

    // ---------------------------------------------------------------- owner

    /// @notice Set the platform fee for future sales; never above `MAX_PLATFORM_FEE_BPS`.
    function setPlatformFee(uint16 bps) external onlyOwner {
        if (bps > MAX_PLATFORM_FEE_BPS) revert Marketplace__FeeAboveCap(bps, MAX_PLATFORM_FEE_BPS);
        uint16 previous = platformFeeBps;
        platformFeeBps = bps;
        emit PlatformFeeChanged(previous, bps);
    }

    /// @notice Send future platform fees to `recipient`; fees already owed stay with the
    /// previous recipient.
    function setFeeRecipient(address recipient) external onlyOwner {
        if (recipient == address(0)) revert Marketplace__ZeroAddress();
        if (recipient == address(this)) revert Marketplace__MarketplaceAsRecipient();
        emit FeeRecipientChanged(feeRecipient, recipient);
        feeRecipient = recipient;
    }

    /// @notice Allow or disallow an ERC-20 for pricing and buying tracks. Balances already
    /// owed in it can always be withdrawn.
    /// See the README's token policy for which tokens are safe to allow.
    function setTokenAllowed(address token, bool allowed) external onlyOwner {
        if (token == address(0)) revert Marketplace__ZeroAddress();
        if (token == address(this)) revert Marketplace__MarketplaceAsRecipient();
        tokenAllowed[token] = allowed;
        emit TokenAllowed(token, allowed);
    }

    /// @notice Require listing attestations signed by `signer` from now on; the zero
    /// address opens registration to any wallet and any metadata CID.
    /// @param signer The catalog signer's address.
    function setCatalogSigner(address signer) external onlyOwner {
        emit CatalogSignerChanged(catalogSigner, signer);
        catalogSigner = signer;
    }

    /// @notice Block a track (a takedown): it cannot be bought until unblocked, and its
    /// artist cannot lift the block. Money its payees already earned is untouched.
    /// @param trackId The track to block.
    /// @param reasonCid IPFS CID of the public (redacted) reason.
    function blockTrack(uint256 trackId, string calldata reasonCid) external onlyOwner {
        _setBlocked(trackId, true, reasonCid);
        emit TrackBlocked(trackId, reasonCid);
    }

    /// @notice Lift the block on a track; it is for sale again if its artist lists it.
    /// @param trackId The track to unblock.
    /// @param reasonCid IPFS CID of the public reason.
    function unblockTrack(uint256 trackId, string calldata reasonCid) external onlyOwner {
        _setBlocked(trackId, false, reasonCid);
        emit TrackUnblocked(trackId, reasonCid);
    }

    function _setBlocked(uint256 trackId, bool blocked, string calldata reasonCid) private {
        if (bytes(reasonCid).length == 0) revert Marketplace__EmptyReasonCid();
        Track storage track = _tracks[trackId];
        if (track.artist == address(0)) revert Marketplace__UnknownTrack(trackId);
        uint8 flags = track.flags;
        if ((flags & BLOCKED != 0) == blocked) revert Marketplace__BlockUnchanged(trackId, blocked);
        track.flags = blocked ? flags | BLOCKED : flags & ~BLOCKED;
    }

    /// @notice Disabled: without an owner, epochs could never be published and every pool
    /// carried over would stay locked until its rescue window.
    function renounceOwnership() public view override onlyOwner {
        revert Marketplace__RenounceDisabled();
    }

    /// @notice Stop new sales and registrations. Withdrawals and distributions go on.
    function pauseSales() external onlyOwner {
        salesPaused = true;
        emit SalesPausedChanged(true);
    }

    /// @notice Resume sales and registrations.
    function unpauseSales() external onlyOwner {
        salesPaused = false;
        emit SalesPausedChanged(false);
    }
}
