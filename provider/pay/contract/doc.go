// Package contract holds the PaymentChannel Solidity contract (the payment
// channels of DESIGN §5), its ABI and bytecode as compiled by solc, and the
// Go bindings abigen made of them. Everything but the .sol and gen.sh is
// generated: edit PaymentChannel.sol, then run go generate.
package contract

//go:generate ./gen.sh
