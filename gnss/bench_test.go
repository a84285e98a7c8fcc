package gnss

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkReader reads the 5-minute walk of the corpus (300 epochs of
// RMC+GGA+GST at 1 Hz): throughput in bytes/s and the cost per epoch.
func BenchmarkReader(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "walk_5min.nmea"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	epochs := 0
	for i := 0; i < b.N; i++ {
		r := NewReader(bytes.NewReader(data), Options{})
		for {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			epochs++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(epochs), "ns/epoch")
}
