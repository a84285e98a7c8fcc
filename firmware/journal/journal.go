// Package journal is the device's durable outbox: confirmed sightings,
// counts and coverage are appended to an on-disk log and fsync'd before
// they are published, and forgotten only when the broker has acknowledged
// them. It also keeps the walk in progress (so that a restart continues the
// same walk and reuses the ids of sightings it had already confirmed) and the
// cameras confirmed by earlier walks (for dedup).
//
// The log is a sequence of records, each framed as
//
//	magic (2 bytes) | length (uint32 LE) | CRC32C of length and payload (uint32 LE) | JSON payload
//
// A torn or corrupt record (a crash in the middle of a write, a bad sector,
// garbage) is detected by its CRC, reported, and skipped: reading resumes at
// the next valid record, so good records after it are not lost, and the file
// is rewritten without the damage. The raw GNSS track is never written here.
package journal

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/camaudit/camaudit/wire"
)

var magic = [2]byte{0xC4, 0x7A}

const (
	headerLen  = 10
	maxRecord  = 1 << 20 // larger lengths are corruption
	logName    = "journal.log"
	reserveLen = 1 << 20 // space released for sightings when the disk fills
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Message is one entry of the outbox: a payload to publish under the
// device's topic of Kind, identified by ID until the broker acknowledges it.
type Message struct {
	ID       string    `json:"id"`
	Kind     wire.Kind `json:"kind"`
	Payload  []byte    `json:"payload"`
	Optional bool      `json:"optional,omitempty"` // dropped first when the disk is full
	Added    time.Time `json:"added"`
}

// Sighting is a confirmed sighting as journalled, with its walk-local key.
type Sighting struct {
	Key      string        `json:"key"`
	Sighting wire.Sighting `json:"sighting"`
}

// Walk is the persistent state of a walk.
type Walk struct {
	ID      string             `json:"id"`
	Source  string             `json:"source,omitempty"` // identity of a replayed recording ("" live)
	State   string             `json:"state"`            // walking|paused|ended
	Started time.Time          `json:"started,omitempty"`
	Cells   map[string]float64 `json:"cells,omitempty"` // metres walked per H3 cell at the last checkpoint
	Updated time.Time          `json:"updated"`
}

// record is one line of the log.
type record struct {
	Op       string    `json:"op"` // msg, ack, walk, sighting
	Msg      *Message  `json:"msg,omitempty"`
	ID       string    `json:"id,omitempty"`
	Walk     *Walk     `json:"walk,omitempty"`
	Sighting *Sighting `json:"sighting,omitempty"`
}

// Report says what Open found.
type Report struct {
	Records     int   // good records read
	Corrupt     int   // damaged regions skipped
	BytesLost   int64 // bytes in damaged regions
	Pending     int   // messages not yet acknowledged
	Compacted   bool
	ReserveLost bool // the disk-full reserve had been used
}

// Journal is an open journal directory. It is safe for concurrent use.
type Journal struct {
	dir string
	log *slog.Logger

	mu        sync.Mutex
	f         *os.File
	size      int64
	pending   map[string]Message
	order     []string // pending ids in insertion order
	walks     map[string]*Walk
	sightings []Sighting // all confirmed sightings, all walks (for dedup)
	acked     int        // acks since the last compaction
	notify    chan struct{}
	dropped   int // optional messages dropped for lack of space
	// full is set while the last write failed for lack of space;
	// noReserve once the disk-full reserve is used up (until reopened).
	full, noReserve bool
	// compactAfter is how many acks trigger a rewrite of the log.
	compactAfter int
	// write appends b to the file; tests replace it to simulate a full disk.
	write func(f *os.File, b []byte) (int, error)
}

// Open opens (creating if needed) the journal in dir, reads every good
// record, reports and skips damage, and rewrites the file when it found
// damage or much garbage.
func Open(dir string, log *slog.Logger) (*Journal, Report, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, Report{}, fmt.Errorf("creating journal directory: %w", err)
	}
	j := &Journal{dir: dir, log: log, pending: map[string]Message{}, walks: map[string]*Walk{},
		notify: make(chan struct{}, 1), compactAfter: 2000, write: func(f *os.File, b []byte) (int, error) { return f.Write(b) }}
	path := filepath.Join(dir, logName)
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, Report{}, fmt.Errorf("reading journal: %w", err)
	}
	var rep Report
	recs, corrupt, lost := scan(data)
	rep.Corrupt, rep.BytesLost = corrupt, lost
	for _, r := range recs {
		j.apply(r)
	}
	rep.Records = len(recs)
	if corrupt > 0 {
		log.Warn("journal: damaged records skipped (a crash in the middle of a write, or a bad disk); good records kept",
			"file", path, "damaged_regions", corrupt, "bytes_skipped", lost, "good_records", len(recs))
	}
	if _, err := os.Stat(filepath.Join(dir, "reserve")); errors.Is(err, os.ErrNotExist) && len(data) > 0 {
		rep.ReserveLost = true
	}
	if corrupt > 0 || int64(len(data)) > 4<<20 && j.liveRecords()*4 < len(recs) {
		if err := j.compactLocked(); err != nil {
			return nil, rep, err
		}
		rep.Compacted = true
	} else {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, rep, fmt.Errorf("opening journal: %w", err)
		}
		j.f, j.size = f, int64(len(data))
		if len(data) == 0 {
			if err := syncDir(dir); err != nil {
				return nil, rep, err
			}
		}
	}
	j.noReserve = !j.ensureReserve()
	rep.Pending = len(j.order)
	return j, rep, nil
}

// scan splits data into good records, resynchronising after damage.
func scan(data []byte) (recs []record, corrupt int, lost int64) {
	off := 0
	badStart := -1
	for off < len(data) {
		r, n, ok := parseAt(data, off)
		if ok {
			if badStart >= 0 {
				corrupt++
				lost += int64(off - badStart)
				badStart = -1
			}
			recs = append(recs, r)
			off += n
			continue
		}
		if badStart < 0 {
			badStart = off
		}
		next := bytes.Index(data[off+1:], magic[:])
		if next < 0 {
			off = len(data)
			break
		}
		off += 1 + next
	}
	if badStart >= 0 {
		corrupt++
		lost += int64(len(data) - badStart)
	}
	return recs, corrupt, lost
}

func parseAt(data []byte, off int) (record, int, bool) {
	if len(data)-off < headerLen || data[off] != magic[0] || data[off+1] != magic[1] {
		return record{}, 0, false
	}
	n := binary.LittleEndian.Uint32(data[off+2:])
	if n == 0 || n > maxRecord || int(n) > len(data)-off-headerLen {
		return record{}, 0, false
	}
	sum := binary.LittleEndian.Uint32(data[off+6:])
	payload := data[off+headerLen : off+headerLen+int(n)]
	c := crc32.Update(crc32.Checksum(data[off+2:off+6], castagnoli), castagnoli, payload)
	if c != sum {
		return record{}, 0, false
	}
	var r record
	if err := json.Unmarshal(payload, &r); err != nil || r.Op == "" {
		return record{}, 0, false
	}
	return r, headerLen + int(n), true
}

func frame(r record) ([]byte, error) {
	payload, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	b := make([]byte, headerLen+len(payload))
	copy(b, magic[:])
	binary.LittleEndian.PutUint32(b[2:], uint32(len(payload)))
	copy(b[headerLen:], payload)
	c := crc32.Update(crc32.Checksum(b[2:6], castagnoli), castagnoli, payload)
	binary.LittleEndian.PutUint32(b[6:], c)
	return b, nil
}

// apply updates the in-memory state with one record.
func (j *Journal) apply(r record) {
	switch r.Op {
	case "msg":
		if r.Msg == nil {
			return
		}
		if _, ok := j.pending[r.Msg.ID]; !ok {
			j.order = append(j.order, r.Msg.ID)
		}
		j.pending[r.Msg.ID] = *r.Msg
	case "ack":
		if _, ok := j.pending[r.ID]; ok {
			delete(j.pending, r.ID)
			j.acked++
			for i, id := range j.order {
				if id == r.ID {
					j.order = append(j.order[:i], j.order[i+1:]...)
					break
				}
			}
		}
	case "walk":
		if r.Walk != nil {
			w := *r.Walk
			j.walks[w.ID] = &w
		}
	case "sighting":
		if r.Sighting != nil {
			j.sightings = append(j.sightings, *r.Sighting)
		}
	}
}

func (j *Journal) liveRecords() int { return len(j.pending) + len(j.walks) + len(j.sightings) }

// ErrDiskFull is returned when a required record cannot be written even
// after the reserve was released.
var ErrDiskFull = errors.New("journal: disk full")

// append writes records in one write and fsyncs. On failure the file is
// truncated back so that no partial record remains. Optional records are
// dropped when the disk is full; for required ones the reserve is released
// and the write retried.
func (j *Journal) append(optional bool, recs ...record) error {
	var buf []byte
	for _, r := range recs {
		b, err := frame(r)
		if err != nil {
			return fmt.Errorf("journal: encoding record: %w", err)
		}
		buf = append(buf, b...)
	}
	for attempt := 0; ; attempt++ {
		n, err := j.write(j.f, buf)
		if err == nil {
			if err = j.f.Sync(); err == nil {
				j.full = false
				j.size += int64(n)
				for _, r := range recs {
					j.apply(r)
				}
				return nil
			}
		}
		// Undo a partial write so the log stays well-formed.
		_ = j.f.Truncate(j.size)
		if !errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("journal: writing %s: %w", filepath.Join(j.dir, logName), err)
		}
		j.full = true
		if optional {
			j.dropped++
			j.log.Warn("journal: disk full, dropping optional data (telemetry, evidence, checkpoints) to keep room for sightings", "dropped", j.dropped)
			return fmt.Errorf("journal: optional record dropped: %w", ErrDiskFull)
		}
		if attempt == 0 && j.releaseReserve() {
			continue
		}
		if attempt <= 1 && j.acked > 0 {
			if cerr := j.compactLocked(); cerr == nil {
				continue
			}
		}
		j.log.Error("journal: disk full, cannot store a sighting; it stays in memory and is retried", "dir", j.dir)
		return fmt.Errorf("%w (%s)", ErrDiskFull, j.dir)
	}
}

// ensureReserve creates the reserve file if it is missing; it reports
// whether the reserve is in place.
func (j *Journal) ensureReserve() bool {
	p := filepath.Join(j.dir, "reserve")
	if st, err := os.Stat(p); err == nil && st.Size() == reserveLen {
		return true
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return false
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, reserveLen)); err != nil {
		_ = os.Remove(p)
		return false
	}
	if err := f.Sync(); err != nil {
		_ = os.Remove(p)
		return false
	}
	return true
}

func (j *Journal) releaseReserve() bool {
	p := filepath.Join(j.dir, "reserve")
	if err := os.Remove(p); err != nil {
		return false
	}
	j.noReserve = true
	j.log.Warn("journal: disk full, released the reserve to keep sightings; free some space", "dir", j.dir)
	return true
}

// compactLocked rewrites the log with only live state: pending messages,
// walks and confirmed sightings. It writes a new file, fsyncs it, renames it
// over the old one and fsyncs the directory.
func (j *Journal) compactLocked() error {
	path := filepath.Join(j.dir, logName)
	tmp := path + ".tmp"
	var buf []byte
	add := func(r record) error {
		b, err := frame(r)
		if err != nil {
			return err
		}
		buf = append(buf, b...)
		return nil
	}
	ids := make([]string, 0, len(j.walks))
	for id := range j.walks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := add(record{Op: "walk", Walk: j.walks[id]}); err != nil {
			return err
		}
	}
	for i := range j.sightings {
		if err := add(record{Op: "sighting", Sighting: &j.sightings[i]}); err != nil {
			return err
		}
	}
	for _, id := range j.order {
		m := j.pending[id]
		if err := add(record{Op: "msg", Msg: &m}); err != nil {
			return err
		}
	}
	if err := writeFileSync(tmp, buf); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("journal: compacting: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("journal: compacting: %w", err)
	}
	if err := syncDir(j.dir); err != nil {
		return err
	}
	if j.f != nil {
		_ = j.f.Close()
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("journal: reopening after compaction: %w", err)
	}
	j.f, j.size, j.acked = f, int64(len(buf)), 0
	return nil
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("journal: syncing directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("journal: syncing directory: %w", err)
	}
	return nil
}

// Close closes the journal file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// Dir returns the journal directory.
func (j *Journal) Dir() string { return j.dir }

func (j *Journal) signal() {
	select {
	case j.notify <- struct{}{}:
	default:
	}
}

// Changed is signalled (coalesced) whenever messages are added to the outbox.
func (j *Journal) Changed() <-chan struct{} { return j.notify }

// Put durably adds messages to the outbox (one write, one fsync).
func (j *Journal) Put(msgs ...Message) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("journal: closed")
	}
	recs := make([]record, len(msgs))
	optional := true
	for i := range msgs {
		m := msgs[i]
		if m.Added.IsZero() {
			m.Added = time.Now().UTC()
		}
		recs[i] = record{Op: "msg", Msg: &m}
		optional = optional && m.Optional
	}
	if err := j.append(optional, recs...); err != nil {
		return err
	}
	j.signal()
	return nil
}

// AddSighting durably records a confirmed sighting of a walk and queues its
// payload for publication, in one fsync'd write.
func (j *Journal) AddSighting(s Sighting, payload []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("journal: closed")
	}
	m := Message{ID: s.Sighting.ID, Kind: wire.KindSightings, Payload: payload, Added: time.Now().UTC()}
	if err := j.append(false, record{Op: "sighting", Sighting: &s}, record{Op: "msg", Msg: &m}); err != nil {
		return err
	}
	j.signal()
	return nil
}

// Ack forgets an acknowledged message. Acking an unknown id does nothing.
func (j *Journal) Ack(id string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.pending[id]; !ok || j.f == nil {
		return nil
	}
	if err := j.append(false, record{Op: "ack", ID: id}); err != nil {
		return err
	}
	if j.acked >= j.compactAfter && j.acked > 2*len(j.pending) {
		if err := j.compactLocked(); err != nil {
			j.log.Warn("journal: compaction failed; will retry", "err", err)
		}
	}
	return nil
}

// Pending returns the messages not yet acknowledged, oldest first.
func (j *Journal) Pending() []Message {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]Message, 0, len(j.order))
	for _, id := range j.order {
		out = append(out, j.pending[id])
	}
	return out
}

// PendingCount returns how many messages wait for acknowledgement.
func (j *Journal) PendingCount() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.order)
}

// DiskFull reports whether the journal's disk is full: the last write
// failed for lack of space, or the disk-full reserve has been used (it is
// made again when the journal is next opened with room for it). The device
// says so in its metrics, telemetry and fault LED.
func (j *Journal) DiskFull() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.full || j.noReserve
}

// Dropped returns how many optional messages were dropped for lack of space.
func (j *Journal) Dropped() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.dropped
}

// SaveWalk durably records the state of a walk. Checkpoints of a walk in
// progress are optional (dropped when the disk is full); state changes are not.
func (j *Journal) SaveWalk(w Walk, checkpoint bool) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("journal: closed")
	}
	w.Updated = time.Now().UTC()
	return j.append(checkpoint, record{Op: "walk", Walk: &w})
}

// EndWalk marks a walk ended and queues its closing messages (counts,
// coverage) in one fsync'd write, so a crash either leaves the walk open or
// ended with everything queued.
func (j *Journal) EndWalk(w Walk, msgs ...Message) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("journal: closed")
	}
	w.State, w.Updated, w.Cells = "ended", time.Now().UTC(), nil
	recs := []record{}
	for i := range msgs {
		m := msgs[i]
		if m.Added.IsZero() {
			m.Added = time.Now().UTC()
		}
		recs = append(recs, record{Op: "msg", Msg: &m})
	}
	recs = append(recs, record{Op: "walk", Walk: &w})
	if err := j.append(false, recs...); err != nil {
		return err
	}
	j.signal()
	return nil
}

// OpenWalk returns the most recently updated walk that has not ended.
func (j *Journal) OpenWalk() (Walk, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var best *Walk
	for _, w := range j.walks {
		if w.State != "ended" && (best == nil || w.Updated.After(best.Updated)) {
			best = w
		}
	}
	if best == nil {
		return Walk{}, false
	}
	return *best, true
}

// WalkBySource returns the most recent walk replaying the given source.
func (j *Journal) WalkBySource(source string) (Walk, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var best *Walk
	for _, w := range j.walks {
		if w.Source == source && (best == nil || w.Updated.After(best.Updated)) {
			best = w
		}
	}
	if best == nil {
		return Walk{}, false
	}
	return *best, true
}

// Sightings returns the confirmed sightings of one walk ("" for all walks),
// in the order they were confirmed.
func (j *Journal) Sightings(walk string) []Sighting {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []Sighting
	for _, s := range j.sightings {
		if walk == "" || s.Sighting.Walk == walk {
			out = append(out, s)
		}
	}
	return out
}

// Size returns the size of the log file in bytes.
func (j *Journal) Size() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.size
}

// ReadLog is a diagnostic: it scans a journal file and reports its good
// records and damage without changing it.
func ReadLog(r io.Reader) (records, corrupt int, lost int64, err error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return 0, 0, 0, err
	}
	recs, c, l := scan(data)
	return len(recs), c, l, nil
}
