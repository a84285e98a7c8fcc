package gnss

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns the master side of a new pseudo-terminal and the path of
// its slave, which stands in for a receiver's serial port.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("opening /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking pty: %v", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	master := os.NewFile(uintptr(fd), "/dev/ptmx")
	t.Cleanup(func() { master.Close() })
	return master, fmt.Sprintf("/dev/pts/%d", n)
}

// TestSerialPTY feeds NMEA with noise through a pty into OpenSerial and a
// Stream, and checks cancel and Close.
func TestSerialPTY(t *testing.T) {
	master, slave := openPTY(t)
	port, err := OpenSerial(slave, 38400)
	if err != nil {
		t.Fatal(err)
	}
	s := NewStream(port, Options{})
	defer s.Close()

	want := walk(10, time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC), time.Second)
	var b strings.Builder
	b.WriteString("\x00\xff$PMTK011,MTKGPS*08\r\n")
	for _, f := range want {
		b.WriteString(FormatEpoch("GN", f, true))
	}
	b.WriteString(FormatEpoch("GN", walk(1, want[9].Time.Add(time.Second), time.Second)[0], true))
	if _, err := io.WriteString(master, b.String()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, w := range want {
		f, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("fix %d: %v (stats %+v)", i, err, s.Stats())
		}
		sameFix(t, i, f, w)
	}
	// Nothing more is written: Next waits until its context ends.
	short, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	// The 11th epoch completes on arrival (the reader learned the epoch).
	if f, err := s.Next(short); err != nil || !f.Valid {
		t.Fatalf("11th epoch: %v %+v", err, f)
	}
	if _, err := s.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with nothing to read: %v", err)
	}
	if st := s.Stats(); st.Ignored != 1 || st.Garbage != 2 || st.Fixes != 11 {
		t.Fatalf("stats %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Next(context.Background()); err == nil {
		t.Fatal("Next after Close returned no error")
	}
}

func TestOpenSerialErrors(t *testing.T) {
	if _, err := OpenSerial("/dev/does-not-exist", 9600); err == nil || !strings.Contains(err.Error(), "/dev/does-not-exist") {
		t.Fatalf("missing device: %v", err)
	}
	for _, tc := range []struct {
		in   string
		dev  string
		baud int
		bad  bool
	}{
		{"/dev/serial0@9600", "/dev/serial0", 9600, false},
		{"/dev/ttyACM0", "/dev/ttyACM0", DefaultBaud, false},
		{"/dev/ttyS0@fast", "", 0, true},
		{"@9600", "", 0, true},
		{"/dev/ttyS0@-1", "", 0, true},
	} {
		dev, baud, err := ParseSerial(tc.in)
		if (err != nil) != tc.bad || dev != tc.dev || baud != tc.baud {
			t.Errorf("ParseSerial(%q) = %q %d %v", tc.in, dev, baud, err)
		}
	}
}
