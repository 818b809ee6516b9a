package wal

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
)

// MemFS is a strict in-memory FS for crash tests: it keeps, beside what
// each file holds now, what a power failure would leave of it — the bytes
// as of the file's last Sync, and the names as of each directory's last
// SyncDir. Crash throws away everything else (or, given a random source,
// keeps a random part of each unsynced write, torn at 512-byte sectors,
// as a disk may), and closes every open file. It is safe for concurrent
// use.
type MemFS struct {
	mu    sync.Mutex
	gen   int                 // bumped by Crash: older handles are dead
	names map[string]*memNode // the namespace now
	// durable is the namespace a crash leaves: per directory, as of its
	// last SyncDir (a directory never synced keeps its durable entries).
	durable map[string]*memNode
	dirs    map[string]bool
}

type memNode struct {
	data    []byte     // now
	synced  []byte     // as of the last Sync
	pending []memWrite // writes since the last Sync, in order
}

type memWrite struct {
	off  int64
	data []byte
}

// ErrCrashed: the file was opened before MemFS.Crash.
var ErrCrashed = errors.New("wal: memfs: file handle from before a crash")

// NewMemFS returns an empty MemFS.
func NewMemFS() *MemFS {
	return &MemFS{names: map[string]*memNode{}, durable: map[string]*memNode{}, dirs: map[string]bool{}}
}

func (m *MemFS) Create(name string) (File, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[filepath.Dir(name)] {
		return nil, &fs.PathError{Op: "create", Path: name, Err: fs.ErrNotExist}
	}
	if m.names[name] != nil {
		return nil, &fs.PathError{Op: "create", Path: name, Err: fs.ErrExist}
	}
	n := &memNode{}
	m.names[name] = n
	return &memFile{fs: m, n: n, gen: m.gen, name: name}, nil
}

func (m *MemFS) OpenRW(name string) (File, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.names[name]
	if n == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &memFile{fs: m, n: n, gen: m.gen, name: name}, nil
}

func (m *MemFS) Rename(oldname, newname string) error {
	oldname, newname = filepath.Clean(oldname), filepath.Clean(newname)
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.names[oldname]
	if n == nil {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	delete(m.names, oldname)
	m.names[newname] = n
	return nil
}

func (m *MemFS) Remove(name string) error {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.names[name] == nil {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(m.names, name)
	return nil
}

func (m *MemFS) List(dir string) ([]string, error) {
	dir = filepath.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[dir] {
		return nil, &fs.PathError{Op: "list", Path: dir, Err: fs.ErrNotExist}
	}
	var out []string
	for name := range m.names {
		if filepath.Dir(name) == dir {
			out = append(out, filepath.Base(name))
		}
	}
	slices.Sort(out)
	return out, nil
}

// MkdirAll creates dir durably (MemFS keeps directories across crashes).
func (m *MemFS) MkdirAll(dir string) error {
	dir = filepath.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := dir; ; d = filepath.Dir(d) {
		m.dirs[d] = true
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func (m *MemFS) SyncDir(dir string) error {
	dir = filepath.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[dir] {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: fs.ErrNotExist}
	}
	for name := range m.durable {
		if filepath.Dir(name) == dir {
			delete(m.durable, name)
		}
	}
	for name, n := range m.names {
		if filepath.Dir(name) == dir {
			m.durable[name] = n
		}
	}
	return nil
}

// Crash models a power failure: the namespace returns to what SyncDir
// made durable and each file to its synced bytes. With r nil every
// unsynced write is lost; otherwise each is, at random, lost, kept, or
// kept in part (a random subset of its 512-byte sectors). Every file
// opened before the crash fails from now on with ErrCrashed.
func (m *MemFS) Crash(r *rand.Rand) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	m.names = map[string]*memNode{}
	for name, n := range m.durable {
		data := slices.Clone(n.synced)
		if r != nil {
			for _, w := range n.pending {
				data = tearWrite(r, data, w)
			}
		}
		n.data, n.synced, n.pending = data, slices.Clone(data), nil
		m.names[name] = n
	}
}

// tearWrite applies some of w's sectors to data, as a crash mid-write may.
func tearWrite(r *rand.Rand, data []byte, w memWrite) []byte {
	const sector = 512
	mode := r.IntN(3) // 0 lost, 1 kept, 2 torn
	if mode == 0 {
		return data
	}
	for s := int64(0); s < int64(len(w.data)); s += sector {
		if mode == 2 && r.IntN(2) == 0 {
			continue
		}
		end := min(s+sector, int64(len(w.data)))
		data = writeAt(data, w.data[s:end], w.off+s)
	}
	return data
}

func writeAt(data, p []byte, off int64) []byte {
	if end := off + int64(len(p)); end > int64(len(data)) {
		data = append(data, make([]byte, end-int64(len(data)))...)
	}
	copy(data[off:], p)
	return data
}

// Bytes returns a copy of what the file holds now (tests).
func (m *MemFS) Bytes(name string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.names[filepath.Clean(name)]
	if n == nil {
		return nil, false
	}
	return slices.Clone(n.data), true
}

// SetBytes replaces what the file holds, durably (tests: a truncated or
// corrupted file as a crash or a bad disk leaves it).
func (m *MemFS) SetBytes(name string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = filepath.Clean(name)
	n := m.names[name]
	if n == nil {
		n = &memNode{}
		m.names[name] = n
		m.durable[name] = n
	}
	n.data, n.synced, n.pending = slices.Clone(data), slices.Clone(data), nil
}

// Clone returns an independent copy of the file system as a crash now
// would leave it with nothing unsynced kept (tests fork one state into
// many).
func (m *MemFS) Clone() *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := NewMemFS()
	for d := range m.dirs {
		c.dirs[d] = true
	}
	for name, n := range m.durable {
		cn := &memNode{data: slices.Clone(n.synced), synced: slices.Clone(n.synced)}
		c.names[name], c.durable[name] = cn, cn
	}
	return c
}

type memFile struct {
	fs   *MemFS
	n    *memNode
	gen  int
	name string
}

func (f *memFile) check() error {
	if f.gen != f.fs.gen {
		return ErrCrashed
	}
	return nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(); err != nil {
		return 0, err
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(); err != nil {
		return 0, err
	}
	f.n.data = writeAt(f.n.data, p, off)
	f.n.pending = append(f.n.pending, memWrite{off: off, data: slices.Clone(p)})
	return len(p), nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(); err != nil {
		return err
	}
	for _, w := range f.n.pending {
		f.n.synced = writeAt(f.n.synced, w.data, w.off)
	}
	f.n.pending = nil
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(); err != nil {
		return 0, err
	}
	return int64(len(f.n.data)), nil
}

func (f *memFile) Close() error { return nil }
