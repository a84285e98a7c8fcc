package hub

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/hub/store"
	"github.com/camaudit/camaudit/internal/brokertest"
	"github.com/camaudit/camaudit/wire"
)

// benchSightings makes n valid sightings from devices devs, spread over a city.
func benchSightings(b testing.TB, n, devs int, seed int64) (topics []string, payloads [][]byte) {
	rng := rand.New(rand.NewSource(seed))
	enu := geo.NewENU(origin)
	now := time.Now().UTC().Add(-time.Hour)
	walks := make([]string, devs)
	for i := range walks {
		walks[i] = uuid.Must(uuid.NewV7()).String()
	}
	for i := 0; i < n; i++ {
		d := i % devs
		dev := fmt.Sprintf("pi-bench-%02d", d)
		ll := enu.FromLocal(rng.Float64()*20000-10000, rng.Float64()*20000-10000)
		s := &wire.Sighting{Schema: wire.SchemaSighting, ID: uuid.Must(uuid.NewV7()).String(), Device: dev, Walk: walks[d],
			Time: now.Add(time.Duration(i) * time.Millisecond), Lat: ll.Lat, Lon: ll.Lon, ErrM: 2 + rng.Float64()*4,
			Type: wire.CameraTypes[rng.Intn(4)], Mount: "wall", Confidence: 0.9, Frames: 12, BaselineM: 9, Model: "camaudit-cams-v1"}
		p, err := wire.Encode(s, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		topics = append(topics, wire.Topic(dev, wire.KindSightings))
		payloads = append(payloads, p)
	}
	return topics, payloads
}

// BenchmarkIngestSQLite measures the sustained rate at which sightings
// published by several devices through a real Mosquitto are validated,
// stored in SQLite and merged into the registry, beside the rate at which a
// bare mosquitto_sub receives the same messages in the same run.
func BenchmarkIngestSQLite(b *testing.B) {
	const n, devices = 20000, 8
	topics, payloads := benchSightings(b, n, devices, 1)
	var hubRate, subRate, pubRate, hubCPU float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// The hub acknowledges a message only once it is committed, so the
		// broker's window of unacknowledged messages per client bounds the batch
		// size: deployments raise it from the default 20 (see docs/hub.md).
		br := brokertest.Start(b, "max_queued_messages 200000\nmax_inflight_messages 1000\n")
		h := startHub(b, Config{DB: filepath.Join(b.TempDir(), "hub.db"), Broker: br.URL(), ClientID: fmt.Sprintf("hub-bench-%d", i)})
		waitFor(b, "the hub to subscribe", func() bool { return h.hub.Ingester().Stats().Connected })

		sub := exec.Command("mosquitto_sub", "-h", "127.0.0.1", "-p", strconv.Itoa(br.Port), "-q", "1", "-t", wire.Filter(wire.KindSightings, ""), "-C", strconv.Itoa(n), "-i", "bench-sub")
		out, err := sub.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := sub.Start(); err != nil {
			b.Fatalf("mosquitto_sub (install mosquitto-clients with make setup): %v", err)
		}
		time.Sleep(300 * time.Millisecond) // let mosquitto_sub subscribe
		subDone := make(chan time.Time, 1)
		go func() {
			r := bufio.NewReaderSize(out, 1<<20)
			lines := 0
			for lines < n {
				if _, err := r.ReadSlice('\n'); err != nil {
					if err == bufio.ErrBufferFull {
						continue
					}
					break
				}
				lines++
			}
			subDone <- time.Now()
			io.Copy(io.Discard, out)
		}()

		// Each device is a mosquitto_pub process publishing its lines at QoS 1,
		// so the publishers' CPU is not counted as the hub's.
		pubs := make([]*exec.Cmd, devices)
		stdins := make([]io.WriteCloser, devices)
		for d := range pubs {
			pubs[d] = exec.Command("mosquitto_pub", "-h", "127.0.0.1", "-p", strconv.Itoa(br.Port), "-q", "1", "-l",
				"-t", topics[d], "-i", fmt.Sprintf("bench-dev-%d-%d", i, d))
			if stdins[d], err = pubs[d].StdinPipe(); err != nil {
				b.Fatal(err)
			}
			if err := pubs[d].Start(); err != nil {
				b.Fatalf("mosquitto_pub: %v", err)
			}
		}
		var ru0 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for d := 0; d < devices; d++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := bufio.NewWriterSize(stdins[d], 1<<20)
				for j := d; j < n; j += devices {
					w.Write(payloads[j])
					w.WriteByte('\n')
				}
				w.Flush()
				stdins[d].Close()
				if err := pubs[d].Wait(); err != nil {
					b.Errorf("mosquitto_pub: %v", err)
				}
			}()
		}
		wg.Wait()
		published := time.Since(start)
		waitFor(b, "the hub to store every sighting", func() bool {
			_, s := h.hub.Registry().Len()
			return s >= n
		})
		hubTook := time.Since(start)
		b.StopTimer()
		var ru1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
		hubCPU = float64(cpu.Microseconds()) / n
		var subTook time.Duration
		select {
		case t := <-subDone:
			subTook = t.Sub(start)
		case <-time.After(30 * time.Second):
			b.Errorf("mosquitto_sub did not receive %d messages", n)
		}
		sub.Process.Kill()
		sub.Wait()
		is := h.hub.Ingester().Stats()
		b.Logf("hub: %d batches for %d messages, %v in store writes; publishing took %v, the hub %v, mosquitto_sub %v",
			is.Batches, n, is.WriteTime.Round(time.Millisecond), published.Round(time.Millisecond), hubTook.Round(time.Millisecond), subTook.Round(time.Millisecond))
		if got := h.hub.Ingester().Stats().Accepted; got != n {
			b.Errorf("hub accepted %d of %d sightings", got, n)
		}
		h.stop()
		hubRate = float64(n) / hubTook.Seconds()
		subRate = float64(n) / subTook.Seconds()
		pubRate = float64(n) / published.Seconds()
	}
	b.ReportMetric(hubRate, "hub_sightings/s")
	b.ReportMetric(subRate, "mosquitto_sub_msgs/s")
	b.ReportMetric(pubRate, "published_msgs/s")
	b.ReportMetric(hubCPU, "hub_cpu_us/sighting")
}

// seedLarge writes n cameras over a 20 km × 20 km city (a fifth of them seen
// by a second walk) and the coverage of the walks into a store.
func seedLarge(b testing.TB, db string, n int) {
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	rng := rand.New(rand.NewSource(3))
	enu := geo.NewENU(origin)
	t0 := time.Now().UTC().Add(-48 * time.Hour)
	var msgs []store.Message
	flush := func() {
		if _, err := st.Write(ctx, msgs, nil, time.Now()); err != nil {
			b.Fatal(err)
		}
		msgs = msgs[:0]
	}
	id := 0
	sighting := func(dev, walk string, x, y float64, typ string, at time.Time) {
		id++
		ll := enu.FromLocal(x, y)
		msgs = append(msgs, store.Message{Device: dev, Payload: &wire.Sighting{Schema: wire.SchemaSighting,
			ID: fmt.Sprintf("%08x-0000-7000-8000-%012x", at.Unix(), id), Device: dev, Walk: walk, Time: at,
			Lat: ll.Lat, Lon: ll.Lon, ErrM: 3, Type: typ, Mount: "wall", Confidence: 0.9, Frames: 10, BaselineM: 8, Model: "m"}})
		if len(msgs) == 5000 {
			flush()
		}
	}
	const walks = 200
	// A jittered grid 60 m apart (about 19 km square for 100,000): cameras
	// stay distinct, as the count needs.
	side := int(math.Ceil(math.Sqrt(float64(n))))
	for i := 0; i < n; i++ {
		w := i % walks
		dev := fmt.Sprintf("pi-%03d", w%40)
		walk := fmt.Sprintf("0193a1b2-0000-7000-8000-%012x", w)
		x, y := float64(i%side)*60-9500+rng.Float64()*10, float64(i/side)*60-9500+rng.Float64()*10
		typ := wire.CameraTypes[rng.Intn(4)]
		sighting(dev, walk, x, y, typ, t0)
		if i%5 == 0 {
			sighting(fmt.Sprintf("pi-%03d", (w+1)%40), fmt.Sprintf("0193a1b2-0000-7000-8000-%012x", walks+w), x+rng.NormFloat64(), y+rng.NormFloat64(), typ, t0.Add(24*time.Hour))
		}
	}
	flush()
	// Coverage: every walk covers a 2 km street.
	for w := 0; w < 2*walks; w++ {
		x, y := rng.Float64()*18000-9000, rng.Float64()*20000-10000
		line := []geo.LatLon{enu.FromLocal(x-1000, y), enu.FromLocal(x+1000, y)}
		msgs = append(msgs, store.Message{Device: fmt.Sprintf("pi-%03d", w%40), Payload: &wire.Coverage{Schema: wire.SchemaCoverage,
			Device: fmt.Sprintf("pi-%03d", w%40), Walk: fmt.Sprintf("0193a1b2-0000-7000-8000-%012x", w), Cells: geo.CellsAlong(line, geo.CellRes),
			WalkedM: 2000, From: t0, To: t0.Add(time.Hour)}})
	}
	flush()
}

// BenchmarkAPI100k measures request latency (p50, p95) of the API with
// 100,000 cameras, per endpoint, over HTTP on the loopback interface.
func BenchmarkAPI100k(b *testing.B) {
	const n = 100_000
	db := filepath.Join(b.TempDir(), "hub.db")
	start := time.Now()
	seedLarge(b, db, n)
	seeded := time.Since(start)
	start = time.Now()
	h := startHub(b, Config{DB: db})
	loaded := time.Since(start)
	cams, sightings := h.hub.Registry().Len()
	if cams != n {
		b.Fatalf("registry holds %d cameras, want about %d", cams, n)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.Logf("seeded %d sightings in %v; the hub loaded them into %d cameras in %v; heap in use %d MiB (%.0f bytes per sighting)",
		sightings, seeded.Round(time.Millisecond), cams, loaded.Round(time.Millisecond), ms.HeapInuse>>20, float64(ms.HeapInuse)/float64(sightings))
	b.ReportMetric(loaded.Seconds(), "load_s")
	enu := geo.NewENU(origin)
	rng := rand.New(rand.NewSource(9))
	bbox := func(size float64) string {
		x, y := rng.Float64()*(20000-size)-10000, rng.Float64()*(20000-size)-10000
		sw, ne := enu.FromLocal(x, y), enu.FromLocal(x+size, y+size)
		return fmt.Sprintf("%f,%f,%f,%f", sw.Lon, sw.Lat, ne.Lon, ne.Lat)
	}
	route := func() []byte {
		x, y := rng.Float64()*16000-8000, rng.Float64()*16000-8000
		var cs []string
		for k := 0; k <= 10; k++ {
			p := enu.FromLocal(x+float64(k)*300, y+rng.Float64()*200)
			cs = append(cs, fmt.Sprintf("[%f,%f]", p.Lon, p.Lat))
		}
		return []byte(`{"type":"LineString","coordinates":[` + join(cs) + `]}`)
	}
	ids := h.hub.Registry().Cameras(registryAll())
	endpoints := []struct {
		name string
		req  func() (*http.Request, error)
	}{
		{"cameras_view_1km", func() (*http.Request, error) {
			return http.NewRequest("GET", h.url+"/api/cameras?limit=5000&bbox="+bbox(1000), nil)
		}},
		{"cameras_district_4km", func() (*http.Request, error) {
			return http.NewRequest("GET", h.url+"/api/cameras?limit=5000&bbox="+bbox(4000), nil)
		}},
		{"camera_by_id", func() (*http.Request, error) {
			return http.NewRequest("GET", h.url+"/api/cameras/"+ids[rng.Intn(len(ids))].ID, nil)
		}},
		{"cells_view_2km", func() (*http.Request, error) {
			return http.NewRequest("GET", h.url+"/api/cells?bbox="+bbox(2000), nil)
		}},
		{"stats", func() (*http.Request, error) { return http.NewRequest("GET", h.url+"/api/stats", nil) }},
		{"coverage", func() (*http.Request, error) { return http.NewRequest("GET", h.url+"/api/coverage", nil) }},
		{"exposure_3km_route", func() (*http.Request, error) {
			return http.NewRequest("POST", h.url+"/api/exposure", bytes.NewReader(route()))
		}},
		{"cameras_all_100k", func() (*http.Request, error) { return http.NewRequest("GET", h.url+"/api/cameras", nil) }},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for _, ep := range endpoints {
		b.Run(ep.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				req, err := ep.req()
				if err != nil {
					b.Fatal(err)
				}
				t := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(t))
				if resp.StatusCode != 200 {
					b.Fatalf("%s: HTTP %d", ep.name, resp.StatusCode)
				}
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(lat[(len(lat)*95)/100].Microseconds())/1000, "p95_ms")
		})
	}
}

func join(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(x)
	}
	return b.String()
}
