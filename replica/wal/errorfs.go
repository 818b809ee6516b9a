package wal

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
)

// Op names a file-system operation ErrorFS can fail.
type Op int

const (
	OpWrite   Op = iota // File.WriteAt
	OpSync              // File.Sync
	OpRead              // File.ReadAt
	OpCreate            // FS.Create
	OpSyncDir           // FS.SyncDir
	OpRemove            // FS.Remove
	numOps
)

func (o Op) String() string {
	switch o {
	case OpWrite:
		return "write"
	case OpSync:
		return "sync"
	case OpRead:
		return "read"
	case OpCreate:
		return "create"
	case OpSyncDir:
		return "syncdir"
	case OpRemove:
		return "remove"
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// Fault is what an injected fault does.
type Fault int

const (
	// FaultEIO fails the operation with EIO.
	FaultEIO Fault = iota
	// FaultNoSpace fails a write with ENOSPC (a full disk), writing
	// nothing.
	FaultNoSpace
	// FaultShortWrite writes the first half of the bytes and fails.
	FaultShortWrite
	// FaultBitFlip lets the operation succeed but flips one bit of the
	// bytes written or read (silent corruption, which the CRC must catch).
	FaultBitFlip
)

// ErrInjected wraps every error ErrorFS injects.
var ErrInjected = errors.New("wal: injected fault")

// ErrorFS wraps an FS and injects faults, in the style of pebble's
// vfs/errorfs: Inject arms a fault for the n-th operation of a kind from
// now. It is safe for concurrent use.
type ErrorFS struct {
	inner FS

	mu     sync.Mutex
	counts [numOps]int
	armed  []armedFault
}

type armedFault struct {
	op    Op
	at    int // fires at this count of op
	fault Fault
	all   bool // keeps firing for every later op of its kind
}

// NewErrorFS wraps inner; it injects nothing until told to.
func NewErrorFS(inner FS) *ErrorFS { return &ErrorFS{inner: inner} }

// Inject arms fault for the n-th op from now (n ≥ 1). If sticky, every
// later op of that kind fails too (a dead disk).
func (e *ErrorFS) Inject(op Op, n int, fault Fault, sticky bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.armed = append(e.armed, armedFault{op: op, at: e.counts[op] + n, fault: fault, all: sticky})
}

// Count returns how many ops of a kind ran so far.
func (e *ErrorFS) Count(op Op) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.counts[op]
}

// next counts one op and returns the fault armed for it, if any.
func (e *ErrorFS) next(op Op) (Fault, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.counts[op]++
	for _, a := range e.armed {
		if a.op == op && (e.counts[op] == a.at || a.all && e.counts[op] > a.at) {
			return a.fault, true
		}
	}
	return 0, false
}

func injected(op Op, name string, errno error) error {
	return fmt.Errorf("%w: %s %s: %w", ErrInjected, op, name, errno)
}

func (e *ErrorFS) Create(name string) (File, error) {
	if _, ok := e.next(OpCreate); ok {
		return nil, injected(OpCreate, name, syscall.EIO)
	}
	f, err := e.inner.Create(name)
	if err != nil {
		return nil, err
	}
	return &errorFile{File: f, fs: e, name: name}, nil
}

func (e *ErrorFS) OpenRW(name string) (File, error) {
	f, err := e.inner.OpenRW(name)
	if err != nil {
		return nil, err
	}
	return &errorFile{File: f, fs: e, name: name}, nil
}

func (e *ErrorFS) Rename(o, n string) error { return e.inner.Rename(o, n) }

func (e *ErrorFS) Remove(name string) error {
	if _, ok := e.next(OpRemove); ok {
		return injected(OpRemove, name, syscall.EIO)
	}
	return e.inner.Remove(name)
}

func (e *ErrorFS) List(dir string) ([]string, error) { return e.inner.List(dir) }
func (e *ErrorFS) MkdirAll(dir string) error         { return e.inner.MkdirAll(dir) }

func (e *ErrorFS) SyncDir(dir string) error {
	if _, ok := e.next(OpSyncDir); ok {
		return injected(OpSyncDir, dir, syscall.EIO)
	}
	return e.inner.SyncDir(dir)
}

type errorFile struct {
	File
	fs   *ErrorFS
	name string
}

func (f *errorFile) WriteAt(p []byte, off int64) (int, error) {
	fault, ok := f.fs.next(OpWrite)
	if !ok {
		return f.File.WriteAt(p, off)
	}
	switch fault {
	case FaultNoSpace:
		return 0, injected(OpWrite, f.name, syscall.ENOSPC)
	case FaultShortWrite:
		n, err := f.File.WriteAt(p[:len(p)/2], off)
		if err != nil {
			return n, err
		}
		return n, injected(OpWrite, f.name, syscall.EIO)
	case FaultBitFlip:
		q := append([]byte(nil), p...)
		if len(q) > 0 {
			q[len(q)/2] ^= 0x10
		}
		return f.File.WriteAt(q, off)
	default:
		return 0, injected(OpWrite, f.name, syscall.EIO)
	}
}

func (f *errorFile) ReadAt(p []byte, off int64) (int, error) {
	fault, ok := f.fs.next(OpRead)
	if !ok {
		return f.File.ReadAt(p, off)
	}
	if fault == FaultBitFlip {
		n, err := f.File.ReadAt(p, off)
		if n > 0 {
			p[n/2] ^= 0x10
		}
		return n, err
	}
	return 0, injected(OpRead, f.name, syscall.EIO)
}

func (f *errorFile) Sync() error {
	if _, ok := f.fs.next(OpSync); ok {
		return injected(OpSync, f.name, syscall.EIO)
	}
	return f.File.Sync()
}
