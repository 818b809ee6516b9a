package wal

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// FS is the file system the log runs on: the operating system's (OS), a
// strict in-memory one that forgets what was not synced at a crash
// (MemFS), or either behind an error-injecting layer (ErrorFS). Names are
// paths as the operating system takes them.
type FS interface {
	// Create makes a new, empty file for reading and writing; it fails if
	// the name exists. The new name is durable once SyncDir of its
	// directory returns.
	Create(name string) (File, error)
	// OpenRW opens an existing file for reading and writing.
	OpenRW(name string) (File, error)
	// Rename renames a file (atomically replacing newname); durable once
	// SyncDir returns.
	Rename(oldname, newname string) error
	// Remove removes a file; durable once SyncDir returns.
	Remove(name string) error
	// List returns the names of the files in dir, sorted.
	List(dir string) ([]string, error)
	// MkdirAll creates dir and its parents, durably.
	MkdirAll(dir string) error
	// SyncDir makes the directory's entries durable.
	SyncDir(dir string) error
}

// File is an open file of an FS.
type File interface {
	io.ReaderAt
	io.WriterAt
	// Sync makes every byte written so far durable (fdatasync: the data
	// and the metadata needed to read it, such as the size).
	Sync() error
	// Size returns the file's size.
	Size() (int64, error)
	Close() error
}

// OS is the operating system's file system.
var OS FS = osFS{}

type osFS struct{}

type osFile struct{ *os.File }

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) OpenRW(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (osFS) Remove(name string) error             { return os.Remove(name) }

func (osFS) List(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, de := range des {
		if !de.IsDir() {
			names = append(names, de.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

func (fs osFS) MkdirAll(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// The new directory's own entry lives in its parent.
	return fs.SyncDir(filepath.Dir(filepath.Clean(dir)))
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Sync is fdatasync: a write inside the file's preallocated size changes
// no metadata, so the sync writes the data blocks and nothing else.
func (f osFile) Sync() error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

func (f osFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
