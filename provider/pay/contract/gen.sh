#!/bin/sh
# gen.sh regenerates PaymentChannel.abi, PaymentChannel.bin and the Go
# bindings (paymentchannel.go) from PaymentChannel.sol. Run it through
# `go generate ./provider/pay/contract`. It needs node and npm; the build
# and the tests do not (the outputs are committed).
#
# solc is the npm package (solcjs) at the pinned version, installed once
# into a cache dir outside the module ($POINTFS_SOLC_DIR to choose another).
set -eu
SOLC_VERSION=0.8.30
EVM_VERSION=cancun

cd "$(dirname "$0")"
TOOLS=${POINTFS_SOLC_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pointfs/solc-$SOLC_VERSION}
if [ ! -f "$TOOLS/node_modules/solc/package.json" ]; then
	mkdir -p "$TOOLS"
	npm install --prefix "$TOOLS" --no-save --no-audit --no-fund "solc@$SOLC_VERSION" >&2
fi

NODE_PATH="$TOOLS/node_modules" SOLC_VERSION=$SOLC_VERSION EVM_VERSION=$EVM_VERSION node - <<'JS'
const fs = require('fs');
const solc = require('solc');
const want = process.env.SOLC_VERSION;
if (!solc.version().startsWith(want + '+')) {
  console.error(`solc ${solc.version()} is not the pinned ${want}`);
  process.exit(1);
}
const input = {
  language: 'Solidity',
  sources: { 'PaymentChannel.sol': { content: fs.readFileSync('PaymentChannel.sol', 'utf8') } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: process.env.EVM_VERSION,
    metadata: { bytecodeHash: 'none' },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
  },
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
let failed = false;
for (const e of out.errors || []) {
  console.error(e.formattedMessage);
  if (e.severity === 'error') failed = true;
}
if (failed) process.exit(1);
const c = out.contracts['PaymentChannel.sol'].PaymentChannel;
fs.writeFileSync('PaymentChannel.abi', JSON.stringify(c.abi) + '\n');
fs.writeFileSync('PaymentChannel.bin', c.evm.bytecode.object + '\n');
JS

go tool abigen --v2 --abi PaymentChannel.abi --bin PaymentChannel.bin \
	--pkg contract --type PaymentChannel --out paymentchannel.go
chmod 644 paymentchannel.go
