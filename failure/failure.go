// Package failure is meshbundle's vocabulary of failures: the kinds a
// caller (a pipeline, the install-operator, Helm) branches on, the one
// bad-input error type, and the one table from kind to exit code that every
// command of the CLI and the lean post-renderer use.
//
// It imports only the standard library, so the lean renderer binary and the
// installer library can both depend on it.
package failure

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Kind is what a failure means for the caller's next step. Its value is
// the CLI's exit code; README "Exit codes" documents the same table.
type Kind int

// The exit codes. Never renumber: pipelines branch on them.
const (
	// OK: done.
	OK Kind = 0
	// Failed: anything not below; the message says what.
	Failed Kind = 1
	// BadInput: flags, files, configuration or the input stream are wrong;
	// nothing was changed. Fix the input (the message names object, field
	// and fix) and run again.
	BadInput Kind = 2
	// Unreachable: the API server did not answer; nothing was changed.
	// Retry.
	Unreachable Kind = 3
	// Timeout: --timeout passed; the work done so far stays. Run again to
	// finish.
	Timeout Kind = 4
	// Locked: another run holds the installer lease, or another canary
	// command the app's canary lease (package lease); nothing was changed.
	// Retry when it has finished.
	Locked Kind = 5
	// InUse: a removal was refused because something still uses what it
	// would remove (proxies on a revision, namespaces on a tag, Istio
	// config on the CRDs); nothing was changed.
	InUse Kind = 6
	// Conflict: what the command read changed underneath it (the git
	// working copy, the AppMesh file); nothing was written. Look, then run
	// again.
	Conflict Kind = 7
)

var kindNames = map[Kind]string{
	OK: "ok", Failed: "failed", BadInput: "bad input", Unreachable: "unreachable",
	Timeout: "timeout", Locked: "locked", InUse: "in use", Conflict: "conflict",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Kinds lists every kind, in exit-code order (for docs and tests).
func Kinds() []Kind {
	return []Kind{OK, Failed, BadInput, Unreachable, Timeout, Locked, InUse, Conflict}
}

// Kinded is an error that says its kind. Every error type a caller should
// branch on implements it (BadInputError here; installer.LockedError,
// canary.ConflictError and the like in their packages).
type Kinded interface {
	error
	Kind() Kind
}

// KindOf is the one mapping from an error to its kind: the kind of the
// outermost error in err's chain (errors.As) that says one; a context
// deadline anywhere in the chain is Timeout; anything else Failed. A nil
// error is OK.
func KindOf(err error) Kind {
	if err == nil {
		return OK
	}
	var k Kinded
	if errors.As(err, &k) {
		return k.Kind()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Timeout
	}
	return Failed
}

// Code is KindOf as a process exit code.
func Code(err error) int { return int(KindOf(err)) }

// BadInputError is the one error type for bad input, in every package:
// nothing was changed, fix the input. Object, Field and Fix are optional
// when Err's message already says them.
type BadInputError struct {
	// Object is what is wrong: "flag", "IstioOperator", "Service shop/web".
	Object string
	// Field is where in Object: "--output", "spec.meshConfig.accessLogFile".
	Field string
	// Err says what is wrong with it.
	Err error
	// Fix says what to do about it.
	Fix string
}

// BadInputf is a BadInputError whose message (fmt.Errorf, so %w wraps)
// names object, field and fix itself.
func BadInputf(format string, args ...any) error {
	return &BadInputError{Err: fmt.Errorf(format, args...)}
}

// Error reads "<object> <field>: <err> (fix: <fix>)", leaving out what is
// empty. Fix is left out too when Err's message says its own "(fix: ...)",
// which is the more specific (Fix is then the fallback for errors that do
// not).
func (e *BadInputError) Error() string {
	var b strings.Builder
	b.WriteString(e.Object)
	if e.Field != "" {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(e.Field)
	}
	msg := "invalid"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(msg)
	if e.Fix != "" && !strings.Contains(msg, "(fix: ") {
		b.WriteString(" (fix: " + e.Fix + ")")
	}
	return b.String()
}

func (e *BadInputError) Unwrap() error { return e.Err }

// Kind is BadInput.
func (e *BadInputError) Kind() Kind { return BadInput }

// InUseError is a refused removal: something still uses what it would
// remove, and nothing was changed. Err names the users and the fix.
type InUseError struct{ Err error }

// InUsef is an InUseError (fmt.Errorf, so %w wraps).
func InUsef(format string, args ...any) error {
	return &InUseError{Err: fmt.Errorf(format, args...)}
}

func (e *InUseError) Error() string { return e.Err.Error() }
func (e *InUseError) Unwrap() error { return e.Err }

// Kind is InUse.
func (e *InUseError) Kind() Kind { return InUse }
