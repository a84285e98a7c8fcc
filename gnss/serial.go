package gnss

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"go.bug.st/serial"
)

// DefaultBaud is the speed of most NMEA receivers out of the box (u-blox,
// MediaTek and SiRF modules ship at 9600; NMEA 0183 itself says 4800).
const DefaultBaud = 9600

// OpenSerial opens a receiver's serial port (e.g. /dev/serial0, /dev/ttyACM0)
// at baud, 8N1; baud 0 means DefaultBaud. Read it with NewReader or
// NewStream.
func OpenSerial(dev string, baud int) (io.ReadCloser, error) {
	if baud == 0 {
		baud = DefaultBaud
	}
	if baud < 0 {
		return nil, fmt.Errorf("serial port %s: baud rate %d is negative", dev, baud)
	}
	p, err := serial.Open(dev, &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, fmt.Errorf("opening serial port %s at %d baud: %w", dev, baud, err)
	}
	return p, nil
}

// ParseSerial splits "DEV[@BAUD]" (as in "serial:/dev/serial0@9600" config
// sources, without the prefix) into device and baud; baud is DefaultBaud
// when absent.
func ParseSerial(spec string) (dev string, baud int, err error) {
	dev, b, found := strings.Cut(spec, "@")
	if dev == "" {
		return "", 0, fmt.Errorf("serial source %q: no device", spec)
	}
	if !found {
		return dev, DefaultBaud, nil
	}
	baud, err = strconv.Atoi(b)
	if err != nil || baud <= 0 || baud > 4000000 {
		return "", 0, fmt.Errorf("serial source %q: baud rate %q is not a positive number", spec, b)
	}
	return dev, baud, nil
}

// Stream reads fixes from a live NMEA source (a serial port, a socket) with
// a context: Next returns when ctx ends, and Close stops the reading by
// closing the source. It satisfies the same Next(ctx) shape as GPSD.
type Stream struct {
	rc     io.ReadCloser
	out    chan streamResult
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	st     Stats
	closed error
	err    error // the source's terminal error, seen by Next
}

type streamResult struct {
	fix Fix
	err error
}

// NewStream starts reading rc with a Reader in the background.
func NewStream(rc io.ReadCloser, opts Options) *Stream {
	s := &Stream{rc: rc, out: make(chan streamResult), done: make(chan struct{})}
	r := NewReader(rc, opts)
	go func() {
		for {
			f, err := r.Next()
			s.mu.Lock()
			s.st = r.Stats()
			s.mu.Unlock()
			select {
			case s.out <- streamResult{f, err}:
			case <-s.done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return s
}

// errClosed is returned by Next after Close.
var errClosed = errors.New("gnss stream closed")

// Next returns the next epoch's fix; io.EOF when the source ended, ctx's
// error when ctx ends first. After an error of the source, Next keeps
// returning it. Next is not safe for concurrent use.
func (s *Stream) Next(ctx context.Context) (Fix, error) {
	if s.err != nil {
		return Fix{}, s.err
	}
	select {
	case r := <-s.out:
		if r.err != nil {
			s.err = r.err
		}
		return r.fix, r.err
	case <-s.done:
		s.err = errClosed
		return Fix{}, s.err
	case <-ctx.Done():
		return Fix{}, ctx.Err()
	}
}

// Stats returns the Reader's counts as of the last fix.
func (s *Stream) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// Close closes the source, which ends the background reading.
func (s *Stream) Close() error {
	s.once.Do(func() { close(s.done) })
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rc != nil {
		s.closed = s.rc.Close()
		s.rc = nil
	}
	return s.closed
}
