package wire_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/internal/hostile"
	"github.com/camaudit/camaudit/wire"
)

var fuzzNow = time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC)

var reasons = map[wire.Reason]bool{
	wire.ReasonTopic: true, wire.ReasonOversize: true, wire.ReasonJSON: true, wire.ReasonSchema: true,
	wire.ReasonDevice: true, wire.ReasonField: true, wire.ReasonTime: true, wire.ReasonCoordinates: true,
	wire.ReasonCell: true, wire.ReasonStatus: true,
}

// TestHostileCorpusDecodes checks every case of the hostile corpus against
// Decode: rejects carry the reason the corpus names; replays and odd but
// valid messages decode (the store tells replays apart).
func TestHostileCorpusDecodes(t *testing.T) {
	c := hostile.New("pi-hostile", fuzzNow)
	if len(c.Hostile) < 30 {
		t.Fatalf("the corpus has %d hostile cases, want >= 30", len(c.Hostile))
	}
	for _, h := range append(c.Baseline, c.Hostile...) {
		_, m, err := wire.Decode(h.Topic, h.Payload, fuzzNow)
		switch h.Want {
		case hostile.Accept, hostile.Duplicate, wire.ReasonIDConflict:
			if err != nil {
				t.Errorf("%s: rejected (%v), want accepted by Decode", h.Name, err)
			}
		default:
			if err == nil {
				t.Errorf("%s: accepted as %#v, want rejected as %s", h.Name, m, h.Want)
			} else if got := wire.ReasonOf(err); got != h.Want {
				t.Errorf("%s: rejected as %s (%v), want %s", h.Name, got, err, h.Want)
			}
		}
	}
}

// FuzzDecode feeds arbitrary topics and payloads to Decode. It must never
// panic; a reject must carry a known reason; an accepted message must be of
// the topic's kind and device, pass Encode (validation is the same on both
// sides) and decode again to the same value.
//
//	go test -run '^$' -fuzz FuzzDecode -fuzztime 1m ./wire
func FuzzDecode(f *testing.F) {
	c := hostile.New("pi-hostile", fuzzNow)
	for _, h := range append(c.Baseline, c.Hostile...) {
		f.Add(h.Topic, h.Payload)
	}
	f.Add("camaudit/v1/pi-hostile/status", []byte("offline"))
	f.Add("camaudit/v1/pi-hostile", []byte("{}"))
	f.Add("", []byte(nil))
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		dev, m, err := wire.Decode(topic, payload, fuzzNow)
		if err != nil {
			var we *wire.Error
			if !errors.As(err, &we) || !reasons[we.Reason] {
				t.Fatalf("reject %v (%T) has no known reason", err, err)
			}
			if m != nil && we.Reason == wire.ReasonTopic {
				t.Fatalf("bad topic but a message %#v", m)
			}
			return
		}
		tdev, kind, terr := wire.ParseTopic(topic)
		if terr != nil || tdev != dev || wire.KindOf(m) != kind {
			t.Fatalf("accepted %T from topic %q (device %q, kind %q, %v)", m, topic, tdev, kind, terr)
		}
		if len(payload) > wire.MaxPayload {
			t.Fatalf("accepted a %d-byte payload", len(payload))
		}
		b, err := wire.Encode(m, fuzzNow)
		if err != nil {
			t.Fatalf("accepted %#v but Encode refuses it: %v", m, err)
		}
		_, m2, err := wire.Decode(topic, b, fuzzNow)
		if err != nil {
			t.Fatalf("re-encoded message rejected: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed the message:\n%#v\n%#v", m, m2)
		}
		if b2, _ := wire.Encode(m2, fuzzNow); !bytes.Equal(b, b2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", b, b2)
		}
	})
}

// FuzzCheckCell compares CheckCell with H3's own validity check (through
// geo): a cell the wire accepts is a real resolution-9 cell and vice versa.
func FuzzCheckCell(f *testing.F) {
	f.Add(uint64(0x892a100d2c3ffff))
	for _, p := range []geo.LatLon{{Lat: 40.7128, Lon: -74.006}, {Lat: -33.87, Lon: 151.21}, {Lat: 89.9, Lon: 0}, {Lat: 52.52, Lon: 13.405}} {
		v, _ := strconv.ParseUint(geo.Cell(p, geo.CellRes), 16, 64)
		f.Add(v)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20; i++ { // around pentagons and near-misses
		v, _ := strconv.ParseUint(hostile.ValidCell, 16, 64)
		v = v&^(0x7f<<45) | uint64([]int{4, 14, 24, 38, 49, 58, 63, 72, 83, 97, 107, 117, 0, 121, 122}[r.IntN(15)])<<45
		v ^= 1 << (r.IntN(45))
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v uint64) {
		s := strconv.FormatUint(v, 16)
		werr := wire.CheckCell(s)
		_, gerr := geo.CellCenter(s)
		res := (v >> 52) & 0xf
		want := gerr == nil && res == geo.CellRes && len(s) == 15
		if (werr == nil) != want {
			t.Fatalf("CheckCell(%s) = %v, h3 says valid=%v (res %d)", s, werr, gerr == nil, res)
		}
	})
}

// TestCheckCellAgreesWithH3 runs the comparison on many random cells and
// one-bit changes of them (the fuzz target's seeds cover only a few).
func TestCheckCellAgreesWithH3(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	valid, n := 0, 0
	for i := 0; i < 3000; i++ {
		p := geo.LatLon{Lat: r.Float64()*180 - 90, Lon: r.Float64()*360 - 180}
		v, _ := strconv.ParseUint(geo.Cell(p, geo.CellRes), 16, 64)
		for _, x := range []uint64{v, v ^ 1<<r.IntN(64), v ^ 1<<(45+r.IntN(7)), v ^ 1<<(18+r.IntN(27))} {
			s := strconv.FormatUint(x, 16)
			_, gerr := geo.CellCenter(s)
			want := gerr == nil && (x>>52)&0xf == geo.CellRes && len(s) == 15
			if err := wire.CheckCell(s); (err == nil) != want {
				t.Fatalf("CheckCell(%s) = %v, h3 valid=%v", s, err, gerr == nil)
			}
			if want {
				valid++
			}
			n++
		}
	}
	if valid < 3000 {
		t.Fatalf("only %d of %d indexes valid: the comparison is not exercising valid cells", valid, n)
	}
}
