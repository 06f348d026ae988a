// SPDX-License-Identifier: MIT
//
// PaymentChannel: unidirectional payment channels from a pointfs client to a
// storage provider (DESIGN §5).
//
// A client opens a channel to a provider with a deposit and an expiry. For
// every chunk the provider signs a pledge for, the client sends it off chain
// a voucher: its signature over the *cumulative* amount it owes on the
// channel. The provider may claim at any time with the latest voucher; it is
// paid the difference to what it was already paid and the channel stays
// open, so it can claim again later with a higher voucher. After the expiry
// the client reclaims what the provider was not paid, which closes the
// channel. The provider must therefore claim before the expiry; a claim
// after it still works until the client reclaims.
//
// Voucher digest (EIP-191 "personal message" over a packed hash, so wallets
// and ecrecover agree on it):
//
//   keccak256("\x19Ethereum Signed Message:\n32" ‖
//             keccak256(abi.encodePacked(address(this), block.chainid, id, cumulative)))
//
// The contract address and chain id keep a voucher from being replayed on
// another deployment or chain; the channel id keeps it to its channel.
pragma solidity 0.8.30;

contract PaymentChannel {
    struct Channel {
        address client;
        address provider;
        uint256 deposit; // everything the client put in
        uint256 paid; // everything the provider was paid (the last claimed cumulative)
        uint64 expiry; // unix seconds; the client may reclaim from then on
        bool closed; // reclaimed: nothing is left
    }

    /// Channels by id; ids start at 1.
    mapping(uint256 => Channel) private channels;
    /// The number of channels ever opened (the last id).
    uint256 public count;
    /// The client's latest channel to a provider, 0 when none or reclaimed.
    mapping(address => mapping(address => uint256)) private latest;

    event Opened(uint256 indexed id, address indexed client, address indexed provider, uint256 deposit, uint64 expiry);
    event ToppedUp(uint256 indexed id, uint256 amount, uint256 deposit);
    event Extended(uint256 indexed id, uint64 expiry);
    event Claimed(uint256 indexed id, address indexed provider, uint256 amount, uint256 cumulative);
    event Reclaimed(uint256 indexed id, address indexed client, uint256 amount);

    error NoDeposit();
    error BadProvider();
    error BadExpiry();
    error UnknownChannel();
    error NotClient();
    error NotProvider();
    error Closed();
    error NotExpired();
    error NotAbovePaid(uint256 cumulative, uint256 paid);
    error AboveDeposit(uint256 cumulative, uint256 deposit);
    error BadSignature();
    error TransferFailed();

    /// Opens a channel to provider with msg.value as its deposit, until expiry.
    function open(address provider, uint64 expiry) external payable returns (uint256 id) {
        if (msg.value == 0) revert NoDeposit();
        if (provider == address(0) || provider == msg.sender) revert BadProvider();
        if (expiry <= block.timestamp) revert BadExpiry();
        id = ++count;
        channels[id] = Channel({
            client: msg.sender,
            provider: provider,
            deposit: msg.value,
            paid: 0,
            expiry: expiry,
            closed: false
        });
        latest[msg.sender][provider] = id;
        emit Opened(id, msg.sender, provider, msg.value, expiry);
    }

    /// Adds msg.value to the deposit of an open channel.
    function topUp(uint256 id) external payable {
        Channel storage c = live(id);
        if (msg.sender != c.client) revert NotClient();
        if (msg.value == 0) revert NoDeposit();
        c.deposit += msg.value;
        emit ToppedUp(id, msg.value, c.deposit);
    }

    /// Moves the expiry of an open channel later (never earlier).
    function extend(uint256 id, uint64 expiry) external {
        Channel storage c = live(id);
        if (msg.sender != c.client) revert NotClient();
        if (expiry <= c.expiry || expiry <= block.timestamp) revert BadExpiry();
        c.expiry = expiry;
        emit Extended(id, expiry);
    }

    /// Pays the provider cumulative - paid for the client's voucher over
    /// cumulative. The channel stays open.
    function claim(uint256 id, uint256 cumulative, bytes calldata sig) external {
        Channel storage c = live(id);
        if (msg.sender != c.provider) revert NotProvider();
        if (cumulative <= c.paid) revert NotAbovePaid(cumulative, c.paid);
        if (cumulative > c.deposit) revert AboveDeposit(cumulative, c.deposit);
        if (recover(voucherDigest(id, cumulative), sig) != c.client) revert BadSignature();
        uint256 amount = cumulative - c.paid;
        c.paid = cumulative;
        emit Claimed(id, c.provider, amount, cumulative);
        (bool ok, ) = c.provider.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    /// Refunds the client what the provider was not paid, once the channel
    /// expired, and closes it.
    function reclaim(uint256 id) external {
        Channel storage c = live(id);
        if (msg.sender != c.client) revert NotClient();
        if (block.timestamp < c.expiry) revert NotExpired();
        uint256 amount = c.deposit - c.paid;
        c.closed = true;
        if (latest[c.client][c.provider] == id) {
            latest[c.client][c.provider] = 0;
        }
        emit Reclaimed(id, c.client, amount);
        if (amount > 0) {
            (bool ok, ) = c.client.call{value: amount}("");
            if (!ok) revert TransferFailed();
        }
    }

    /// Returns a channel (all zero for an unknown id).
    function channel(uint256 id)
        external
        view
        returns (address client, address provider, uint256 deposit, uint256 paid, uint64 expiry, bool closed)
    {
        Channel storage c = channels[id];
        return (c.client, c.provider, c.deposit, c.paid, c.expiry, c.closed);
    }

    /// Returns the client's latest channel to provider that was not
    /// reclaimed, or 0 (checkExistingChannel). It may have expired.
    function channelOf(address client, address provider) external view returns (uint256) {
        return latest[client][provider];
    }

    /// Returns the digest a client signs for a voucher.
    function voucherDigest(uint256 id, uint256 cumulative) public view returns (bytes32) {
        bytes32 inner = keccak256(abi.encodePacked(address(this), block.chainid, id, cumulative));
        return keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", inner));
    }

    function live(uint256 id) private view returns (Channel storage c) {
        c = channels[id];
        if (c.client == address(0)) revert UnknownChannel();
        if (c.closed) revert Closed();
    }

    // recover returns the signer of digest, or address(0) for a malformed
    // signature. v may be 27/28 or 0/1; s must be in the lower half order.
    function recover(bytes32 digest, bytes calldata sig) private pure returns (address) {
        if (sig.length != 65) return address(0);
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        if (v < 27) v += 27;
        if (v != 27 && v != 28) return address(0);
        if (uint256(s) > 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0) return address(0);
        return ecrecover(digest, v, r, s);
    }
}
