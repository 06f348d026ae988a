// Code generated via abigen V2 - DO NOT EDIT.
// This file is a generated binding and any manual changes will be lost.

package contract

import (
	"bytes"
	"errors"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// Reference imports to suppress errors if they are not otherwise used.
var (
	_ = bytes.Equal
	_ = errors.New
	_ = big.NewInt
	_ = common.Big1
	_ = types.BloomLookup
	_ = abi.ConvertType
)

// PaymentChannelMetaData contains all meta data concerning the PaymentChannel contract.
var PaymentChannelMetaData = bind.MetaData{
	ABI: "[{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"cumulative\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"deposit\",\"type\":\"uint256\"}],\"name\":\"AboveDeposit\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"BadExpiry\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"BadProvider\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"BadSignature\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"Closed\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"NoDeposit\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"cumulative\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"paid\",\"type\":\"uint256\"}],\"name\":\"NotAbovePaid\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"NotClient\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"NotExpired\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"NotProvider\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"TransferFailed\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"UnknownChannel\",\"type\":\"error\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"uint256\",\"name\":\"id\",\"type\":\"uint256\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"provider\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"amount\",\"type\":\"uint256\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"cumulative\",\"type\":\"uint256\"}],\"name\":\"Claimed\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"uint256\",\"name\":\"id\",\"type\":\"uint256\"},{\"indexed\":false,\"internalType\":\"uint64\",\"name\":\"expiry\",\"type\":\"uint64\"}],\"name\":\"Extended\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"uint256\",\"name\":\"id\",\"type\":\"uint256\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"client\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"provider\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"deposit\",\"type\":\"uint256\"},{\"indexed\":false,\"internalType\":\"uint64\",\"name\":\"expiry\",\"type\":\"uint64\"}],\"name\":\"Opened\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"uint256\",\"name\":\"id\",\"type\":\"uint256\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"client\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"amount\",\"type\":\"uint256\"}],\"name\":\"Reclaimed\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"uint256\",\"name\":\"id\",\"type\":\"uint256\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"amount\",\"type\":\"uint256\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"deposit\",\"type\":\"uint256\"}],\"name\":\"ToppedUp\",\"type\":\"event\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"id\",\"type\":\"uint256\"}],\"name\":\"channel\",\"outputs\":[{\"internalType\":\"address\",\"name\":\"client\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"provider\",\"type\":\"address\"},{\"internalType\":\"uint256\",\"name\":\"deposit\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"paid\",\"type\":\"uint256\"},{\"internalType\":\"uint64\",\"name\":\"expiry\",\"type\":\"uint64\"},{\"internalType\":\"bool\",\"name\":\"closed\",\"type\":\"bool\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"client\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"provider\",\"type\":\"address\"}],\"name\":\"channelOf\",\"outputs\":[{\"internalType\":\"uint256\",\"name\":\"\",\"type\":\"uint256\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"id\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"cumulative\",\"type\":\"uint256\"},{\"internalType\":\"bytes\",\"name\":\"sig\",\"type\":\"bytes\"}],\"name\":\"claim\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"count\",\"outputs\":[{\"internalType\":\"uint256\",\"name\":\"\",\"type\":\"uint256\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"id\",\"type\":\"uint256\"},{\"internalType\":\"uint64\",\"name\":\"expiry\",\"type\":\"uint64\"}],\"name\":\"extend\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"provider\",\"type\":\"address\"},{\"internalType\":\"uint64\",\"name\":\"expiry\",\"type\":\"uint64\"}],\"name\":\"open\",\"outputs\":[{\"internalType\":\"uint256\",\"name\":\"id\",\"type\":\"uint256\"}],\"stateMutability\":\"payable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"id\",\"type\":\"uint256\"}],\"name\":\"reclaim\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"id\",\"type\":\"uint256\"}],\"name\":\"topUp\",\"outputs\":[],\"stateMutability\":\"payable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"id\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"cumulative\",\"type\":\"uint256\"}],\"name\":\"voucherDigest\",\"outputs\":[{\"internalType\":\"bytes32\",\"name\":\"\",\"type\":\"bytes32\"}],\"stateMutability\":\"view\",\"type\":\"function\"}]",
	ID:  "PaymentChannel",
	Bin: "0x6080604052348015600e575f5ffd5b50610d998061001c5f395ff3fe608060405260043610610084575f3560e01c80635eddd157116100575780635eddd15714610103578063c0d045ff14610122578063cd739ca514610135578063e3f08c1d146101e6578063e67ca67714610205575f5ffd5b806306661abd14610088578063222ed4b5146100b05780632dabbeed146100cf57806350017f3e146100f0575b5f5ffd5b348015610093575f5ffd5b5061009d60015481565b6040519081526020015b60405180910390f35b3480156100bb575f5ffd5b5061009d6100ca366004610b6f565b610249565b3480156100da575f5ffd5b506100ee6100e9366004610b8f565b6102e1565b005b6100ee6100fe366004610b8f565b61049b565b34801561010e575f5ffd5b506100ee61011d366004610ba6565b610554565b61009d610130366004610c4f565b610729565b348015610140575f5ffd5b506101a261014f366004610b8f565b5f90815260208190526040902080546001820154600283015460038401546004909401546001600160a01b039384169593909216939092909167ffffffffffffffff811691600160401b90910460ff1690565b604080516001600160a01b03978816815296909516602087015293850192909252606084015267ffffffffffffffff166080830152151560a082015260c0016100a7565b3480156101f1575f5ffd5b506100ee610200366004610c80565b6108f1565b348015610210575f5ffd5b5061009d61021f366004610ca1565b6001600160a01b039182165f90815260026020908152604080832093909416825291909152205490565b604080513060601b6bffffffffffffffffffffffff1916602080830191909152466034830152605482018590526074808301859052835180840390910181526094830184528051908201207f19457468657265756d205369676e6564204d6573736167653a0a33320000000060b484015260d0808401919091528351808403909101815260f090920190925280519101205b92915050565b5f6102eb826109cd565b80549091506001600160a01b0316331461031857604051630836f21d60e21b815260040160405180910390fd5b600481015467ffffffffffffffff164210156103475760405163d0404f8560e01b815260040160405180910390fd5b5f8160030154826002015461035c9190610cdd565b60048301805468ff00000000000000001916600160401b17905582546001600160a01b039081165f9081526002602090815260408083206001880154909416835292905220549091508390036103db5781546001600160a01b039081165f90815260026020908152604080832060018701549094168352929052908120555b81546040518281526001600160a01b039091169084907fe79f76d3ef42e7845b4f718917861642d857a02a4e690c28e79e5af7f5f8f2d39060200160405180910390a380156104965781546040515f916001600160a01b03169083908381818185875af1925050503d805f811461046d576040519150601f19603f3d011682016040523d82523d5f602084013e610472565b606091505b5050905080610494576040516312171d8360e31b815260040160405180910390fd5b505b505050565b5f6104a5826109cd565b80549091506001600160a01b031633146104d257604051630836f21d60e21b815260040160405180910390fd5b345f036104f257604051633a6a68b160e01b815260040160405180910390fd5b34816002015f8282546105059190610cf0565b9091555050600281015460405183917f43aaaa1283a8e83fc06a9914af587a9e6c3daebd722d1d79903d997925b6522e9161054891348252602082015260400190565b60405180910390a25050565b5f61055e856109cd565b60018101549091506001600160a01b0316331461058e57604051631a40715960e11b815260040160405180910390fd5b806003015484116105cb57600381015460405163689839d160e11b81526105c2918691600401918252602082015260400190565b60405180910390fd5b806002015484111561060057600281015460405163ca51bd4560e01b81526105c2918691600401918252602082015260400190565b80546001600160a01b031661061f6106188787610249565b8585610a34565b6001600160a01b03161461064657604051635cd5d23360e01b815260040160405180910390fd5b5f8160030154856106579190610cdd565b60038301869055600183015460408051838152602081018990529293506001600160a01b039091169188917fd9cb1e2714d65a111c0f20f060176ad657496bd47a3de04ec7c3d4ca232112ac910160405180910390a360018201546040515f916001600160a01b03169083908381818185875af1925050503d805f81146106f9576040519150601f19603f3d011682016040523d82523d5f602084013e6106fe565b606091505b5050905080610720576040516312171d8360e31b815260040160405180910390fd5b50505050505050565b5f345f0361074a57604051633a6a68b160e01b815260040160405180910390fd5b6001600160a01b038316158061076857506001600160a01b03831633145b156107865760405163f4d3181160e01b815260040160405180910390fd5b428267ffffffffffffffff16116107b05760405163f4ad9a1f60e01b815260040160405180910390fd5b60015f81546107be90610d03565b91829055506040805160c081018252338082526001600160a01b038781166020808501828152348688018181525f6060890181815267ffffffffffffffff808f1660808c0190815260a08c018481528e85528489528d85209c518d54908c166001600160a01b0319918216178e55975160018e01805491909c1698169790971790995592516002808c0191909155905160038b015596516004909901805494511515600160401b0268ffffffffffffffffff1990951699909216989098179290921790915584865292815285852082865290529284902085905592519394509092909184917f2a863808664e93bfafd65bfaf8b759776b49ed9aecf11b15b54127f01c8c6d2e916108e391889091825267ffffffffffffffff16602082015260400190565b60405180910390a492915050565b5f6108fb836109cd565b80549091506001600160a01b0316331461092857604051630836f21d60e21b815260040160405180910390fd5b600481015467ffffffffffffffff9081169083161115806109535750428267ffffffffffffffff1611155b156109715760405163f4ad9a1f60e01b815260040160405180910390fd5b60048101805467ffffffffffffffff191667ffffffffffffffff841690811790915560405190815283907f338e4f3270c5fe01ef48624162999aac13d87c287a841fd1bc89f7531df5e3419060200160405180910390a2505050565b5f81815260208190526040902080546001600160a01b0316610a0257604051633e8c79ed60e11b815260040160405180910390fd5b6004810154600160401b900460ff1615610a2f57604051631cdde67b60e01b815260040160405180910390fd5b919050565b5f60418214610a4457505f610b68565b5f610a526020828587610d1b565b610a5b91610d42565b90505f610a6c604060208688610d1b565b610a7591610d42565b90505f85856040818110610a8b57610a8b610d5f565b919091013560f81c915050601b811015610aad57610aaa601b82610d73565b90505b8060ff16601b14158015610ac557508060ff16601c14155b15610ad5575f9350505050610b68565b7f7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0821115610b08575f9350505050610b68565b604080515f81526020810180835289905260ff831691810191909152606081018490526080810183905260019060a0016020604051602081039080840390855afa158015610b58573d5f5f3e3d5ffd5b5050506020604051035193505050505b9392505050565b5f5f60408385031215610b80575f5ffd5b50508035926020909101359150565b5f60208284031215610b9f575f5ffd5b5035919050565b5f5f5f5f60608587031215610bb9575f5ffd5b8435935060208501359250604085013567ffffffffffffffff811115610bdd575f5ffd5b8501601f81018713610bed575f5ffd5b803567ffffffffffffffff811115610c03575f5ffd5b876020828401011115610c14575f5ffd5b949793965060200194505050565b80356001600160a01b0381168114610a2f575f5ffd5b803567ffffffffffffffff81168114610a2f575f5ffd5b5f5f60408385031215610c60575f5ffd5b610c6983610c22565b9150610c7760208401610c38565b90509250929050565b5f5f60408385031215610c91575f5ffd5b82359150610c7760208401610c38565b5f5f60408385031215610cb2575f5ffd5b610cbb83610c22565b9150610c7760208401610c22565b634e487b7160e01b5f52601160045260245ffd5b818103818111156102db576102db610cc9565b808201808211156102db576102db610cc9565b5f60018201610d1457610d14610cc9565b5060010190565b5f5f85851115610d29575f5ffd5b83861115610d35575f5ffd5b5050820193919092039150565b803560208310156102db575f19602084900360031b1b1692915050565b634e487b7160e01b5f52603260045260245ffd5b60ff81811683821601908111156102db576102db610cc956fea164736f6c634300081e000a",
}

// PaymentChannel is an auto generated Go binding around an Ethereum contract.
type PaymentChannel struct {
	abi abi.ABI
}

// GetABI returns the ABI associated with this contract binding.
func (c *PaymentChannel) GetABI() abi.ABI {
	return c.abi
}

// NewPaymentChannel creates a new instance of PaymentChannel.
func NewPaymentChannel() *PaymentChannel {
	parsed, err := PaymentChannelMetaData.ParseABI()
	if err != nil {
		panic(errors.New("invalid ABI: " + err.Error()))
	}
	return &PaymentChannel{abi: *parsed}
}

// Instance creates a wrapper for a deployed contract instance at the given address.
// Use this to create the instance object passed to abigen v2 library functions Call, Transact, etc.
func (c *PaymentChannel) Instance(backend bind.ContractBackend, addr common.Address) *bind.BoundContract {
	return bind.NewBoundContract(addr, c.abi, backend, backend, backend)
}

// PackChannel is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xcd739ca5.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function channel(uint256 id) view returns(address client, address provider, uint256 deposit, uint256 paid, uint64 expiry, bool closed)
func (paymentChannel *PaymentChannel) PackChannel(id *big.Int) []byte {
	enc, err := paymentChannel.abi.Pack("channel", id)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackChannel is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xcd739ca5.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function channel(uint256 id) view returns(address client, address provider, uint256 deposit, uint256 paid, uint64 expiry, bool closed)
func (paymentChannel *PaymentChannel) TryPackChannel(id *big.Int) ([]byte, error) {
	return paymentChannel.abi.Pack("channel", id)
}

// ChannelOutput serves as a container for the return parameters of contract
// method Channel.
type ChannelOutput struct {
	Client   common.Address
	Provider common.Address
	Deposit  *big.Int
	Paid     *big.Int
	Expiry   uint64
	Closed   bool
}

// UnpackChannel is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xcd739ca5.
//
// Solidity: function channel(uint256 id) view returns(address client, address provider, uint256 deposit, uint256 paid, uint64 expiry, bool closed)
func (paymentChannel *PaymentChannel) UnpackChannel(data []byte) (ChannelOutput, error) {
	out, err := paymentChannel.abi.Unpack("channel", data)
	outstruct := new(ChannelOutput)
	if err != nil {
		return *outstruct, err
	}
	outstruct.Client = *abi.ConvertType(out[0], new(common.Address)).(*common.Address)
	outstruct.Provider = *abi.ConvertType(out[1], new(common.Address)).(*common.Address)
	outstruct.Deposit = abi.ConvertType(out[2], new(big.Int)).(*big.Int)
	outstruct.Paid = abi.ConvertType(out[3], new(big.Int)).(*big.Int)
	outstruct.Expiry = *abi.ConvertType(out[4], new(uint64)).(*uint64)
	outstruct.Closed = *abi.ConvertType(out[5], new(bool)).(*bool)
	return *outstruct, nil
}

// PackChannelOf is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xe67ca677.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function channelOf(address client, address provider) view returns(uint256)
func (paymentChannel *PaymentChannel) PackChannelOf(client common.Address, provider common.Address) []byte {
	enc, err := paymentChannel.abi.Pack("channelOf", client, provider)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackChannelOf is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xe67ca677.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function channelOf(address client, address provider) view returns(uint256)
func (paymentChannel *PaymentChannel) TryPackChannelOf(client common.Address, provider common.Address) ([]byte, error) {
	return paymentChannel.abi.Pack("channelOf", client, provider)
}

// UnpackChannelOf is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xe67ca677.
//
// Solidity: function channelOf(address client, address provider) view returns(uint256)
func (paymentChannel *PaymentChannel) UnpackChannelOf(data []byte) (*big.Int, error) {
	out, err := paymentChannel.abi.Unpack("channelOf", data)
	if err != nil {
		return new(big.Int), err
	}
	out0 := abi.ConvertType(out[0], new(big.Int)).(*big.Int)
	return out0, nil
}

// PackClaim is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x5eddd157.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function claim(uint256 id, uint256 cumulative, bytes sig) returns()
func (paymentChannel *PaymentChannel) PackClaim(id *big.Int, cumulative *big.Int, sig []byte) []byte {
	enc, err := paymentChannel.abi.Pack("claim", id, cumulative, sig)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackClaim is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x5eddd157.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function claim(uint256 id, uint256 cumulative, bytes sig) returns()
func (paymentChannel *PaymentChannel) TryPackClaim(id *big.Int, cumulative *big.Int, sig []byte) ([]byte, error) {
	return paymentChannel.abi.Pack("claim", id, cumulative, sig)
}

// PackCount is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x06661abd.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function count() view returns(uint256)
func (paymentChannel *PaymentChannel) PackCount() []byte {
	enc, err := paymentChannel.abi.Pack("count")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackCount is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x06661abd.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function count() view returns(uint256)
func (paymentChannel *PaymentChannel) TryPackCount() ([]byte, error) {
	return paymentChannel.abi.Pack("count")
}

// UnpackCount is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x06661abd.
//
// Solidity: function count() view returns(uint256)
func (paymentChannel *PaymentChannel) UnpackCount(data []byte) (*big.Int, error) {
	out, err := paymentChannel.abi.Unpack("count", data)
	if err != nil {
		return new(big.Int), err
	}
	out0 := abi.ConvertType(out[0], new(big.Int)).(*big.Int)
	return out0, nil
}

// PackExtend is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xe3f08c1d.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function extend(uint256 id, uint64 expiry) returns()
func (paymentChannel *PaymentChannel) PackExtend(id *big.Int, expiry uint64) []byte {
	enc, err := paymentChannel.abi.Pack("extend", id, expiry)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackExtend is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xe3f08c1d.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function extend(uint256 id, uint64 expiry) returns()
func (paymentChannel *PaymentChannel) TryPackExtend(id *big.Int, expiry uint64) ([]byte, error) {
	return paymentChannel.abi.Pack("extend", id, expiry)
}

// PackOpen is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xc0d045ff.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function open(address provider, uint64 expiry) payable returns(uint256 id)
func (paymentChannel *PaymentChannel) PackOpen(provider common.Address, expiry uint64) []byte {
	enc, err := paymentChannel.abi.Pack("open", provider, expiry)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackOpen is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xc0d045ff.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function open(address provider, uint64 expiry) payable returns(uint256 id)
func (paymentChannel *PaymentChannel) TryPackOpen(provider common.Address, expiry uint64) ([]byte, error) {
	return paymentChannel.abi.Pack("open", provider, expiry)
}

// UnpackOpen is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xc0d045ff.
//
// Solidity: function open(address provider, uint64 expiry) payable returns(uint256 id)
func (paymentChannel *PaymentChannel) UnpackOpen(data []byte) (*big.Int, error) {
	out, err := paymentChannel.abi.Unpack("open", data)
	if err != nil {
		return new(big.Int), err
	}
	out0 := abi.ConvertType(out[0], new(big.Int)).(*big.Int)
	return out0, nil
}

// PackReclaim is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x2dabbeed.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function reclaim(uint256 id) returns()
func (paymentChannel *PaymentChannel) PackReclaim(id *big.Int) []byte {
	enc, err := paymentChannel.abi.Pack("reclaim", id)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackReclaim is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x2dabbeed.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function reclaim(uint256 id) returns()
func (paymentChannel *PaymentChannel) TryPackReclaim(id *big.Int) ([]byte, error) {
	return paymentChannel.abi.Pack("reclaim", id)
}

// PackTopUp is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x50017f3e.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function topUp(uint256 id) payable returns()
func (paymentChannel *PaymentChannel) PackTopUp(id *big.Int) []byte {
	enc, err := paymentChannel.abi.Pack("topUp", id)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackTopUp is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x50017f3e.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function topUp(uint256 id) payable returns()
func (paymentChannel *PaymentChannel) TryPackTopUp(id *big.Int) ([]byte, error) {
	return paymentChannel.abi.Pack("topUp", id)
}

// PackVoucherDigest is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x222ed4b5.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function voucherDigest(uint256 id, uint256 cumulative) view returns(bytes32)
func (paymentChannel *PaymentChannel) PackVoucherDigest(id *big.Int, cumulative *big.Int) []byte {
	enc, err := paymentChannel.abi.Pack("voucherDigest", id, cumulative)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackVoucherDigest is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x222ed4b5.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function voucherDigest(uint256 id, uint256 cumulative) view returns(bytes32)
func (paymentChannel *PaymentChannel) TryPackVoucherDigest(id *big.Int, cumulative *big.Int) ([]byte, error) {
	return paymentChannel.abi.Pack("voucherDigest", id, cumulative)
}

// UnpackVoucherDigest is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x222ed4b5.
//
// Solidity: function voucherDigest(uint256 id, uint256 cumulative) view returns(bytes32)
func (paymentChannel *PaymentChannel) UnpackVoucherDigest(data []byte) ([32]byte, error) {
	out, err := paymentChannel.abi.Unpack("voucherDigest", data)
	if err != nil {
		return *new([32]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([32]byte)).(*[32]byte)
	return out0, nil
}

// PaymentChannelClaimed represents a Claimed event raised by the PaymentChannel contract.
type PaymentChannelClaimed struct {
	Id         *big.Int
	Provider   common.Address
	Amount     *big.Int
	Cumulative *big.Int
	Raw        *types.Log // Blockchain specific contextual infos
}

const PaymentChannelClaimedEventName = "Claimed"

// ContractEventName returns the user-defined event name.
func (PaymentChannelClaimed) ContractEventName() string {
	return PaymentChannelClaimedEventName
}

// UnpackClaimedEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event Claimed(uint256 indexed id, address indexed provider, uint256 amount, uint256 cumulative)
func (paymentChannel *PaymentChannel) UnpackClaimedEvent(log *types.Log) (*PaymentChannelClaimed, error) {
	event := "Claimed"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != paymentChannel.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(PaymentChannelClaimed)
	if len(log.Data) > 0 {
		if err := paymentChannel.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range paymentChannel.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// PaymentChannelExtended represents a Extended event raised by the PaymentChannel contract.
type PaymentChannelExtended struct {
	Id     *big.Int
	Expiry uint64
	Raw    *types.Log // Blockchain specific contextual infos
}

const PaymentChannelExtendedEventName = "Extended"

// ContractEventName returns the user-defined event name.
func (PaymentChannelExtended) ContractEventName() string {
	return PaymentChannelExtendedEventName
}

// UnpackExtendedEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event Extended(uint256 indexed id, uint64 expiry)
func (paymentChannel *PaymentChannel) UnpackExtendedEvent(log *types.Log) (*PaymentChannelExtended, error) {
	event := "Extended"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != paymentChannel.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(PaymentChannelExtended)
	if len(log.Data) > 0 {
		if err := paymentChannel.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range paymentChannel.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// PaymentChannelOpened represents a Opened event raised by the PaymentChannel contract.
type PaymentChannelOpened struct {
	Id       *big.Int
	Client   common.Address
	Provider common.Address
	Deposit  *big.Int
	Expiry   uint64
	Raw      *types.Log // Blockchain specific contextual infos
}

const PaymentChannelOpenedEventName = "Opened"

// ContractEventName returns the user-defined event name.
func (PaymentChannelOpened) ContractEventName() string {
	return PaymentChannelOpenedEventName
}

// UnpackOpenedEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event Opened(uint256 indexed id, address indexed client, address indexed provider, uint256 deposit, uint64 expiry)
func (paymentChannel *PaymentChannel) UnpackOpenedEvent(log *types.Log) (*PaymentChannelOpened, error) {
	event := "Opened"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != paymentChannel.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(PaymentChannelOpened)
	if len(log.Data) > 0 {
		if err := paymentChannel.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range paymentChannel.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// PaymentChannelReclaimed represents a Reclaimed event raised by the PaymentChannel contract.
type PaymentChannelReclaimed struct {
	Id     *big.Int
	Client common.Address
	Amount *big.Int
	Raw    *types.Log // Blockchain specific contextual infos
}

const PaymentChannelReclaimedEventName = "Reclaimed"

// ContractEventName returns the user-defined event name.
func (PaymentChannelReclaimed) ContractEventName() string {
	return PaymentChannelReclaimedEventName
}

// UnpackReclaimedEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event Reclaimed(uint256 indexed id, address indexed client, uint256 amount)
func (paymentChannel *PaymentChannel) UnpackReclaimedEvent(log *types.Log) (*PaymentChannelReclaimed, error) {
	event := "Reclaimed"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != paymentChannel.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(PaymentChannelReclaimed)
	if len(log.Data) > 0 {
		if err := paymentChannel.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range paymentChannel.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// PaymentChannelToppedUp represents a ToppedUp event raised by the PaymentChannel contract.
type PaymentChannelToppedUp struct {
	Id      *big.Int
	Amount  *big.Int
	Deposit *big.Int
	Raw     *types.Log // Blockchain specific contextual infos
}

const PaymentChannelToppedUpEventName = "ToppedUp"

// ContractEventName returns the user-defined event name.
func (PaymentChannelToppedUp) ContractEventName() string {
	return PaymentChannelToppedUpEventName
}

// UnpackToppedUpEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event ToppedUp(uint256 indexed id, uint256 amount, uint256 deposit)
func (paymentChannel *PaymentChannel) UnpackToppedUpEvent(log *types.Log) (*PaymentChannelToppedUp, error) {
	event := "ToppedUp"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != paymentChannel.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(PaymentChannelToppedUp)
	if len(log.Data) > 0 {
		if err := paymentChannel.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range paymentChannel.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// UnpackError attempts to decode the provided error data using user-defined
// error definitions.
func (paymentChannel *PaymentChannel) UnpackError(raw []byte) (any, error) {
	if bytes.Equal(raw[:4], paymentChannel.abi.Errors["AboveDeposit"].ID.Bytes()[:4]) {
		return paymentChannel.UnpackAboveDepositError(raw[4:])
	}
	if bytes.Equal(raw[:4], paymentChannel.abi.Errors["BadExpiry"].ID.Bytes()[:4]) {
		return paymentChannel.UnpackBadExpiryError(raw[4:])
	}
	if bytes.Equal(raw[:4], paymentChannel.abi.Errors["BadProvider"].ID.Bytes()[:4]) {
		return paymentChannel.UnpackBadProviderError(raw[4:])
	}
	if bytes.Equal(raw[:4], paymentChannel.abi.Errors["BadSignature"].ID.Bytes()[:4]) {
		return paymentChannel.UnpackBadSignatureError(raw[4:])
	}
	if bytes.Equal(raw[:4], paymentChannel.abi.Errors["Closed"].ID.Bytes()[:4]) {
		return paymentChannel.UnpackClosedError(raw[4:])
	}
	if bytes.Equal(raw[:4], paymentChannel.abi.Errors["NoDeposit"].ID.Bytes()[:4]) {
		return paymentChannel.UnpackNoDepositError(raw[4:])
	}
	if bytes.Equal(raw[:4], paymentChannel.abi.Errors["NotAbovePaid"].ID.Bytes()[:4]) {
		return paymentChannel.UnpackNotAbovePaidError(raw[4:])
	}
	if bytes.Equal(raw[:4], paymentChannel.abi.Errors["NotClient"].ID.Bytes()[:4]) {
		return paymentChannel.UnpackNotClientError(raw[4:])
	}
	if bytes.Equal(raw[:4], paymentChannel.abi.Errors["NotExpired"].ID.Bytes()[:4]) {
		return paymentChannel.UnpackNotExpiredError(raw[4:])
	}
	if bytes.Equal(raw[:4], paymentChannel.abi.Errors["NotProvider"].ID.Bytes()[:4]) {
		return paymentChannel.UnpackNotProviderError(raw[4:])
	}
	if bytes.Equal(raw[:4], paymentChannel.abi.Errors["TransferFailed"].ID.Bytes()[:4]) {
		return paymentChannel.UnpackTransferFailedError(raw[4:])
	}
	if bytes.Equal(raw[:4], paymentChannel.abi.Errors["UnknownChannel"].ID.Bytes()[:4]) {
		return paymentChannel.UnpackUnknownChannelError(raw[4:])
	}
	return nil, errors.New("Unknown error")
}

// PaymentChannelAboveDeposit represents a AboveDeposit error raised by the PaymentChannel contract.
type PaymentChannelAboveDeposit struct {
	Cumulative *big.Int
	Deposit    *big.Int
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error AboveDeposit(uint256 cumulative, uint256 deposit)
func PaymentChannelAboveDepositErrorID() common.Hash {
	return common.HexToHash("0xca51bd45059b0285a7611ef9798216504b5e5a52e6dce9898bb6e35133266e9a")
}

// UnpackAboveDepositError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error AboveDeposit(uint256 cumulative, uint256 deposit)
func (paymentChannel *PaymentChannel) UnpackAboveDepositError(raw []byte) (*PaymentChannelAboveDeposit, error) {
	out := new(PaymentChannelAboveDeposit)
	if err := paymentChannel.abi.UnpackIntoInterface(out, "AboveDeposit", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// PaymentChannelBadExpiry represents a BadExpiry error raised by the PaymentChannel contract.
type PaymentChannelBadExpiry struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error BadExpiry()
func PaymentChannelBadExpiryErrorID() common.Hash {
	return common.HexToHash("0xf4ad9a1f15ee00575232a4dc8cbac58b397e217d19b70d4a4ad6646fee941714")
}

// UnpackBadExpiryError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error BadExpiry()
func (paymentChannel *PaymentChannel) UnpackBadExpiryError(raw []byte) (*PaymentChannelBadExpiry, error) {
	out := new(PaymentChannelBadExpiry)
	if err := paymentChannel.abi.UnpackIntoInterface(out, "BadExpiry", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// PaymentChannelBadProvider represents a BadProvider error raised by the PaymentChannel contract.
type PaymentChannelBadProvider struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error BadProvider()
func PaymentChannelBadProviderErrorID() common.Hash {
	return common.HexToHash("0xf4d31811f3abf8798f5543e24c097bf8894e080830f9ff59fbe0d2701e5af8d2")
}

// UnpackBadProviderError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error BadProvider()
func (paymentChannel *PaymentChannel) UnpackBadProviderError(raw []byte) (*PaymentChannelBadProvider, error) {
	out := new(PaymentChannelBadProvider)
	if err := paymentChannel.abi.UnpackIntoInterface(out, "BadProvider", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// PaymentChannelBadSignature represents a BadSignature error raised by the PaymentChannel contract.
type PaymentChannelBadSignature struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error BadSignature()
func PaymentChannelBadSignatureErrorID() common.Hash {
	return common.HexToHash("0x5cd5d2335541c4f2ed05fbe44f397e8b79f8e2333157122d2dab06e378ef7685")
}

// UnpackBadSignatureError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error BadSignature()
func (paymentChannel *PaymentChannel) UnpackBadSignatureError(raw []byte) (*PaymentChannelBadSignature, error) {
	out := new(PaymentChannelBadSignature)
	if err := paymentChannel.abi.UnpackIntoInterface(out, "BadSignature", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// PaymentChannelClosed represents a Closed error raised by the PaymentChannel contract.
type PaymentChannelClosed struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error Closed()
func PaymentChannelClosedErrorID() common.Hash {
	return common.HexToHash("0x1cdde67b72a90f19919ac732a437ac2f7a10fc128d28c2a6e525d89ce5cd9d3a")
}

// UnpackClosedError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error Closed()
func (paymentChannel *PaymentChannel) UnpackClosedError(raw []byte) (*PaymentChannelClosed, error) {
	out := new(PaymentChannelClosed)
	if err := paymentChannel.abi.UnpackIntoInterface(out, "Closed", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// PaymentChannelNoDeposit represents a NoDeposit error raised by the PaymentChannel contract.
type PaymentChannelNoDeposit struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error NoDeposit()
func PaymentChannelNoDepositErrorID() common.Hash {
	return common.HexToHash("0x3a6a68b13c0ca4e15e13959ed18d54238202e1df28050322bc46dd3642e1b4fb")
}

// UnpackNoDepositError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error NoDeposit()
func (paymentChannel *PaymentChannel) UnpackNoDepositError(raw []byte) (*PaymentChannelNoDeposit, error) {
	out := new(PaymentChannelNoDeposit)
	if err := paymentChannel.abi.UnpackIntoInterface(out, "NoDeposit", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// PaymentChannelNotAbovePaid represents a NotAbovePaid error raised by the PaymentChannel contract.
type PaymentChannelNotAbovePaid struct {
	Cumulative *big.Int
	Paid       *big.Int
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error NotAbovePaid(uint256 cumulative, uint256 paid)
func PaymentChannelNotAbovePaidErrorID() common.Hash {
	return common.HexToHash("0xd13073a223fc1e3c4a12d3aaa8db99981daed8363c7eb5536efa369127f6094d")
}

// UnpackNotAbovePaidError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error NotAbovePaid(uint256 cumulative, uint256 paid)
func (paymentChannel *PaymentChannel) UnpackNotAbovePaidError(raw []byte) (*PaymentChannelNotAbovePaid, error) {
	out := new(PaymentChannelNotAbovePaid)
	if err := paymentChannel.abi.UnpackIntoInterface(out, "NotAbovePaid", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// PaymentChannelNotClient represents a NotClient error raised by the PaymentChannel contract.
type PaymentChannelNotClient struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error NotClient()
func PaymentChannelNotClientErrorID() common.Hash {
	return common.HexToHash("0x20dbc8744d453df555874a9fb4bfc2e2a9c4bad22c5742928ec789edbc038b43")
}

// UnpackNotClientError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error NotClient()
func (paymentChannel *PaymentChannel) UnpackNotClientError(raw []byte) (*PaymentChannelNotClient, error) {
	out := new(PaymentChannelNotClient)
	if err := paymentChannel.abi.UnpackIntoInterface(out, "NotClient", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// PaymentChannelNotExpired represents a NotExpired error raised by the PaymentChannel contract.
type PaymentChannelNotExpired struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error NotExpired()
func PaymentChannelNotExpiredErrorID() common.Hash {
	return common.HexToHash("0xd0404f85ba4e05bc9297b11eebe43be7ba513eafd8961efcc62c4ef15e5bc0b9")
}

// UnpackNotExpiredError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error NotExpired()
func (paymentChannel *PaymentChannel) UnpackNotExpiredError(raw []byte) (*PaymentChannelNotExpired, error) {
	out := new(PaymentChannelNotExpired)
	if err := paymentChannel.abi.UnpackIntoInterface(out, "NotExpired", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// PaymentChannelNotProvider represents a NotProvider error raised by the PaymentChannel contract.
type PaymentChannelNotProvider struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error NotProvider()
func PaymentChannelNotProviderErrorID() common.Hash {
	return common.HexToHash("0x3480e2b2462e4d9c2f0abe23c91f502123880203393e4f268e0c489e4ec3b3a0")
}

// UnpackNotProviderError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error NotProvider()
func (paymentChannel *PaymentChannel) UnpackNotProviderError(raw []byte) (*PaymentChannelNotProvider, error) {
	out := new(PaymentChannelNotProvider)
	if err := paymentChannel.abi.UnpackIntoInterface(out, "NotProvider", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// PaymentChannelTransferFailed represents a TransferFailed error raised by the PaymentChannel contract.
type PaymentChannelTransferFailed struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error TransferFailed()
func PaymentChannelTransferFailedErrorID() common.Hash {
	return common.HexToHash("0x90b8ec1877afffd816d05d9b13947f3ff18ec5851c38bad15ec2b710f92391b1")
}

// UnpackTransferFailedError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error TransferFailed()
func (paymentChannel *PaymentChannel) UnpackTransferFailedError(raw []byte) (*PaymentChannelTransferFailed, error) {
	out := new(PaymentChannelTransferFailed)
	if err := paymentChannel.abi.UnpackIntoInterface(out, "TransferFailed", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// PaymentChannelUnknownChannel represents a UnknownChannel error raised by the PaymentChannel contract.
type PaymentChannelUnknownChannel struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error UnknownChannel()
func PaymentChannelUnknownChannelErrorID() common.Hash {
	return common.HexToHash("0x7d18f3da450ee02fe6a12b9cc06b8c2603faf5ebec73ef7495a87f6db1597b57")
}

// UnpackUnknownChannelError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error UnknownChannel()
func (paymentChannel *PaymentChannel) UnpackUnknownChannelError(raw []byte) (*PaymentChannelUnknownChannel, error) {
	out := new(PaymentChannelUnknownChannel)
	if err := paymentChannel.abi.UnpackIntoInterface(out, "UnknownChannel", raw); err != nil {
		return nil, err
	}
	return out, nil
}
