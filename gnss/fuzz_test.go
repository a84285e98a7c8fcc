package gnss

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the Reader: it must not panic, must
// end, must keep its buffers bounded and its counts consistent, and every
// fix it calls valid must be a plausible one. Seeds: the corpus files and
// a few hand-made edge cases.
//
//	go test -run '^$' -fuzz FuzzReader -fuzztime 10m ./gnss
func FuzzReader(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no corpus in testdata: %v", err)
	}
	for _, p := range files {
		if filepath.Ext(p) != ".nmea" && filepath.Ext(p) != ".bin" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "$", "$$$$", "*", "$GPRMC*", "$GPRMC,*00\r\n", "\r\n\r\n", "$GPGGA,235960.999,,,,,1,,,,,,,,*7F\n",
		sentence("GPRMC,000000,A,9000.000,N,18000.000,W,0,0,290224,,,A"),
		sentence("GPZDA,235959.99,31,12,2079,00,00") + sentence("GPGGA,235959.99,0000.000,S,00000.000,E,1,99,0.0,-999.9,M,,M,,"),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), Options{})
		n := 0
		for {
			fx, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			n++
			if n > len(data) {
				t.Fatalf("%d epochs from %d bytes", n, len(data))
			}
			if cap(r.queue) > 4 || r.sc.n > MaxSentence {
				t.Fatalf("buffers grew: queue %d, sentence %d", cap(r.queue), r.sc.n)
			}
			if fx.Valid {
				o := r.opt
				if fx.Time.Before(o.NotBefore) || fx.Time.After(o.NotAfter) {
					t.Fatalf("valid fix dated %v", fx.Time)
				}
				if math.IsNaN(fx.Pos.Lat) || math.IsNaN(fx.Pos.Lon) || math.Abs(fx.Pos.Lat) > 90 || math.Abs(fx.Pos.Lon) > 180 {
					t.Fatalf("valid fix at %v", fx.Pos)
				}
				if fx.Quality < 1 || fx.Quality > 6 {
					t.Fatalf("valid fix of quality %d", fx.Quality)
				}
			}
		}
		st := r.Stats()
		if st.Bytes != int64(len(data)) {
			t.Fatalf("read %d of %d bytes", st.Bytes, len(data))
		}
		if st.Epochs != n || st.Fixes+st.NoFix != n {
			t.Fatalf("%d epochs returned, stats %+v", n, st)
		}
		if got := st.Used + st.Ignored + st.Rejected(); got != st.Sentences {
			t.Fatalf("sentences %d, but used+ignored+rejected %d: %+v", st.Sentences, got, st)
		}
		if st.Garbage > st.Bytes {
			t.Fatalf("garbage %d > bytes %d", st.Garbage, st.Bytes)
		}
	})
}
