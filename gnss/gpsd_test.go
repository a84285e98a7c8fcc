package gnss

import (
	"context"
	"errors"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camaudit/camaudit/internal/freeport"
)

// gpsfake runs a real gpsd on 127.0.0.1:port fed once with the NMEA log,
// a line every 50 ms. gpsfake starts feeding as soon as gpsd is up, client
// or not, so the logs begin with 40 epochs without fix (6 s) that a client
// may miss. It returns a function that stops it.
func gpsfake(t *testing.T, log string, port int) (stop func()) {
	t.Helper()
	if _, err := exec.LookPath("gpsfake"); err != nil {
		t.Fatalf("gpsfake not installed (Debian gpsd-clients; make setup installs it): %v", err)
	}
	cmd := exec.Command("gpsfake", "-1", "-q", "-n", "-c", "0.05", "-P", strconv.Itoa(port), log)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting gpsfake: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		// gpsd runs in gpsfake's process group; make sure it is gone too.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Logf("gpsfake on port %d stopped; output: %s", port, out.String())
	}
	t.Cleanup(stop)
	return stop
}

// gpsdLog writes warm epochs without fix, then the fixes, then a trailing
// epoch, and returns the file.
func gpsdLog(t *testing.T, name string, fixes []Fix, warm int) string {
	t.Helper()
	var b strings.Builder
	start := fixes[0].Time
	for i := warm; i > 0; i-- {
		b.WriteString(FormatEpoch("GP", Fix{Time: start.Add(-time.Duration(i) * time.Second)}, true))
	}
	for _, f := range fixes {
		b.WriteString(FormatEpoch("GP", f, true))
	}
	last := fixes[len(fixes)-1]
	last.Time = last.Time.Add(time.Second)
	b.WriteString(FormatEpoch("GP", last, true))
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// dialRetry connects to gpsd as soon as it listens.
func dialRetry(t *testing.T, ctx context.Context, addr string) *GPSD {
	t.Helper()
	for {
		g, err := DialGPSD(ctx, addr)
		if err == nil {
			return g
		}
		if ctx.Err() != nil {
			t.Fatalf("gpsd at %s never came up: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// collect reads fixes until every time in want has been seen valid.
func collect(t *testing.T, ctx context.Context, g *GPSD, want []Fix) {
	t.Helper()
	byTime := map[time.Time]Fix{}
	for _, f := range want {
		byTime[f.Time] = f
	}
	for len(byTime) > 0 {
		f, err := g.Next(ctx)
		if err != nil {
			t.Fatalf("Next: %v; %d fixes never arrived (stats %+v)", err, len(byTime), g.Stats())
		}
		w, ok := byTime[f.Time]
		if !ok || !f.Valid {
			continue
		}
		if math.Abs(f.Pos.Lat-w.Pos.Lat) > 1e-6 || math.Abs(f.Pos.Lon-w.Pos.Lon) > 1e-6 {
			t.Fatalf("fix at %v: %v, want %v", f.Time, f.Pos, w.Pos)
		}
		if !f.HasSpeed || math.Abs(f.Speed-w.Speed) > 0.01 || !f.HasCourse || math.Abs(f.Course-w.Course) > 0.1 {
			t.Fatalf("fix at %v: speed %v course %v, want %v %v", f.Time, f.Speed, f.Course, w.Speed, w.Course)
		}
		delete(byTime, f.Time)
	}
}

// TestGPSDWithGpsfake replays a log into a real gpsd and reads it back; then
// gpsd is restarted with another log and the client reconnects by itself.
func TestGPSDWithGpsfake(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	port := freeport.Get(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	first := walk(20, time.Date(2026, 4, 2, 9, 0, 0, 0, time.UTC), time.Second)
	stop := gpsfake(t, gpsdLog(t, "first.nmea", first, 40), port)
	g := dialRetry(t, ctx, addr)
	defer g.Close()
	collect(t, ctx, g, first)

	stop()
	second := walk(20, time.Date(2026, 4, 2, 10, 0, 0, 0, time.UTC), time.Second)
	log2 := gpsdLog(t, "second.nmea", second, 40)
	time.Sleep(500 * time.Millisecond) // let the client notice gpsd is gone
	gpsfake(t, log2, port)
	collect(t, ctx, g, second)
	if st := g.Stats(); st.Reconnects < 1 || st.Fixes < 40 || st.TPV < 40 {
		t.Fatalf("stats %+v", st)
	}
}

// TestGPSDCancel checks that Next returns when its context ends, and that
// Dial fails clearly without gpsd.
func TestGPSDCancel(t *testing.T) {
	port := freeport.Get(t)
	if _, err := DialGPSD(context.Background(), "127.0.0.1:"+strconv.Itoa(port)); err == nil || !strings.Contains(err.Error(), "gpsd") {
		t.Fatalf("dial with no gpsd: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0") // a silent "gpsd"
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	g, err := DialGPSD(context.Background(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := g.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Next took %v after cancel", d)
	}
}

// TestGPSDReports parses gpsd JSON as gpsd 3.22 writes it.
func TestGPSDReports(t *testing.T) {
	g := &GPSD{opt: Options{}.withDefaults(), motion: motion{maxSpeed: DefaultMaxSpeed, slack: DefaultJumpSlack}}
	lines := []string{
		`{"class":"VERSION","release":"3.22","rev":"3.22","proto_major":3,"proto_minor":14}`,
		`{"class":"SKY","device":"/dev/pts/1","hdop":0.9,"satellites":[{"PRN":5,"el":40,"az":83,"ss":46,"used":true,"gnssid":0,"svid":5},{"PRN":67,"used":true,"gnssid":6,"svid":3},{"PRN":9,"used":false,"gnssid":0}]}`,
		`{"class":"TPV","device":"/dev/pts/1","mode":3,"status":2,"time":"2026-03-14T12:00:00.000Z","ept":0.005,"lat":52.52,"lon":13.405,"altHAE":30.0,"altMSL":28.5,"alt":28.5,"track":45.0,"speed":1.399,"eph":4.5}`,
		`{"class":"TPV","device":"/dev/pts/1","mode":3,"time":"2026-03-14T12:00:00.000Z","lat":52.52,"lon":13.405}`,
		`{"class":"TPV","device":"/dev/pts/1","mode":1,"time":"2026-03-14T12:00:01.000Z"}`,
		`{"class":"TPV","device":"/dev/pts/1","mode":3,"time":"1999-03-14T12:00:02.000Z","lat":52.52,"lon":13.405}`,
		`{"class":"TPV","mode":3,"time":"2026-03-14T12:00:03.000Z","lat":53.52,"lon":13.405}`,
		`not json`,
	}
	var fixes []Fix
	for _, l := range lines {
		if f, ok := g.report([]byte(l)); ok {
			fixes = append(fixes, f)
		}
	}
	if len(fixes) != 4 {
		t.Fatalf("%d fixes: %+v", len(fixes), fixes)
	}
	f := fixes[0]
	if !f.Valid || f.Quality != 2 || f.Alt != 28.5 || f.AccuracyM != 4.5 || f.HDOP != 0.9 || f.Sats != 2 ||
		f.Systems != GPS|GLONASS || !f.HasSpeed || f.Course != 45 {
		t.Fatalf("first fix %+v", f)
	}
	if fixes[1].Valid || fixes[2].Valid || fixes[3].Valid {
		t.Fatalf("no-fix, 1999 and a 111 km jump must be invalid: %+v", fixes[1:])
	}
	if st := g.Stats(); st.Duplicates != 1 || st.Bad != 1 || st.Refused != 2 || st.SKY != 1 {
		t.Fatalf("stats %+v", st)
	}
}
