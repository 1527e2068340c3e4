package registry

import (
	"encoding/json"
	"errors"
	"fmt"
)

// OpType is the leading byte of every command in the Raft log. The low
// seven bits name the op; the high bit, FlagIgnoreUnknown, tells a master
// that does not know the op to skip it instead of failing it. An op whose
// payload changes incompatibly gets a new type; old types are never reused.
//
//	+--------+------------------------------+
//	| type   | payload (JSON, op-specific)  |
//	| 1 byte | rest of the entry            |
//	+--------+------------------------------+
type OpType byte

// FlagIgnoreUnknown marks an op that older masters may skip safely.
const FlagIgnoreUnknown OpType = 0x80

// The ops. 0 is reserved as Unknown.
const (
	OpUnknown         OpType = 0
	OpAdmitAgent      OpType = 1
	OpMarkAgentGone   OpType = 2
	OpRemoveFramework OpType = 3
	// OpMarkAgentUnreachable is new in Agora 0.2; older masters cannot
	// skip it (it changes what they must refuse), so it has no flag.
	OpMarkAgentUnreachable OpType = 4
	// OpRecordLostTasks is new in Agora 0.3; like OpMarkAgentUnreachable
	// it changes what a master must refuse, so it has no flag.
	OpRecordLostTasks OpType = 5

	opTypeMask = ^FlagIgnoreUnknown
)

// Errors the FSM returns through raft's ApplyFuture.Response.
var (
	ErrUnknownOp   = errors.New("registry: unknown op")
	ErrBadOp       = errors.New("registry: malformed op")
	ErrAgentIsGone = errors.New("registry: agent was marked gone")
)

// Op is one command for the registry.
type Op interface {
	opType() OpType
}

// AdmitAgent records an agent the master admitted (or updates its
// hostname and endpoint).
type AdmitAgent struct {
	Agent Agent `json:"agent"`
}

// MarkAgentGone records that the operator marked an agent gone at Time
// (Unix nanoseconds, stamped by the proposer). The agent is no longer
// admitted and may never subscribe again.
type MarkAgentGone struct {
	ID   string `json:"id"`
	Time int64  `json:"time"`
}

// RemoveFramework records that a framework was removed (torn down or
// failed over too late) at Time (Unix nanoseconds, stamped by the
// proposer); it may never subscribe again.
type RemoveFramework struct {
	ID   string `json:"id"`
	Time int64  `json:"time"`
}

// MarkAgentUnreachable records that a leader marked an agent unreachable
// at Time (Unix nanoseconds, stamped by the proposer): it stopped
// answering, or did not re-subscribe after a failover. An admission of the
// same id makes it reachable again.
type MarkAgentUnreachable struct {
	ID   string `json:"id"`
	Time int64  `json:"time"`
}

func (MarkAgentUnreachable) opType() OpType { return OpMarkAgentUnreachable }
func (AdmitAgent) opType() OpType           { return OpAdmitAgent }
func (MarkAgentGone) opType() OpType        { return OpMarkAgentGone }
func (RemoveFramework) opType() OpType      { return OpRemoveFramework }

// Encode serialises op as a log entry: its type byte, then its JSON.
func Encode(op Op) ([]byte, error) {
	payload, err := json.Marshal(op)
	if err != nil {
		return nil, fmt.Errorf("registry: encode op %d: %w", op.opType(), err)
	}
	return append([]byte{byte(op.opType())}, payload...), nil
}

// EncodeWithFlags is Encode with extra flag bits (FlagIgnoreUnknown) set
// in the type byte.
func EncodeWithFlags(op Op, flags OpType) ([]byte, error) {
	b, err := Encode(op)
	if err != nil {
		return nil, err
	}
	b[0] |= byte(flags)
	return b, nil
}

// Decode parses a log entry. An op this version does not know yields
// ErrUnknownOp; ignorable reports whether its flag allows skipping it.
func Decode(b []byte) (op Op, ignorable bool, err error) {
	if len(b) == 0 {
		return nil, false, fmt.Errorf("%w: empty entry", ErrBadOp)
	}
	t := OpType(b[0])
	ignorable = t&FlagIgnoreUnknown != 0
	payload := b[1:]
	switch t & opTypeMask {
	case OpAdmitAgent:
		var o AdmitAgent
		err = json.Unmarshal(payload, &o)
		op = o
	case OpMarkAgentGone:
		var o MarkAgentGone
		err = json.Unmarshal(payload, &o)
		op = o
	case OpMarkAgentUnreachable:
		var o MarkAgentUnreachable
		err = json.Unmarshal(payload, &o)
		op = o
	case OpRemoveFramework:
		var o RemoveFramework
		err = json.Unmarshal(payload, &o)
		op = o
	case OpRecordLostTasks:
		var o RecordLostTasks
		err = json.Unmarshal(payload, &o)
		op = o
	default:
		return nil, ignorable, fmt.Errorf("%w: type %d", ErrUnknownOp, t&opTypeMask)
	}
	if err != nil {
		return nil, ignorable, fmt.Errorf("%w: type %d: %v", ErrBadOp, t&opTypeMask, err)
	}
	return op, ignorable, nil
}
