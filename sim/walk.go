package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/gnss"
	"gocv.io/x/gocv"
)

// Walk is a scenario turned into a timed walk: where the walker is and
// where the device camera points at any time, and the world it sees.
type Walk struct {
	Sc       *Scenario
	World    *World
	Duration float64 // seconds from the first frame to the end of the route
	Frames   int

	route *polyline
	dt    float64   // timeline step
	dist  []float64 // distance along the route at t = k*dt
	phase [4]float64
}

// Pose is the device camera's state at one instant.
type Pose struct {
	T       float64 // seconds since the start
	Pos     Vec3    // walker position on the ground (local metres)
	Eye     Vec3    // optical centre
	Heading float64 // walking direction, compass degrees
	Yaw     float64 // camera yaw, compass degrees
	Pitch   float64 // degrees up
	Roll    float64 // degrees
	Speed   float64 // metres per second over ground
	YawRate float64 // degrees per second
	S       float64 // metres along the route
}

// NewWalk builds the world of sc and the walker's timeline.
func NewWalk(sc *Scenario, bg *Backgrounds) (*Walk, error) {
	w, err := BuildWorld(sc, bg)
	if err != nil {
		return nil, err
	}
	wk := &Walk{Sc: sc, World: w, dt: 0.01}
	wk.route = newPolyline(w.localPoints(sc.Route.Points, sc.Route.LatLon))
	if wk.route.Len() < 1 {
		w.Close()
		return nil, fmt.Errorf("%s:%d: route.points: the route is %.2f m long", sc.file, sc.line("route.points"), wk.route.Len())
	}
	rng := rand.New(rand.NewPCG(uint64(sc.Seed), 0x3a1c))
	for i := range wk.phase {
		wk.phase[i] = 2 * math.Pi * rng.Float64()
	}
	// integrate the distance walked, with pauses and a gently varying pace
	pauses := append([]PauseSpec(nil), sc.Route.Pauses...)
	s, t, hold := 0.0, 0.0, 0.0
	L := wk.route.Len()
	wk.dist = append(wk.dist, 0)
	for s < L {
		t += wk.dt
		if hold > 0 {
			hold -= wk.dt
		} else {
			v := sc.Route.Speed * (1 + 0.05*math.Sin(2*math.Pi*t/11+wk.phase[0]))
			next := s + v*wk.dt
			for i := range pauses {
				if pauses[i].Duration > 0 && pauses[i].At >= s && pauses[i].At < next {
					next = pauses[i].At
					hold = pauses[i].Duration
					pauses[i].Duration = 0
				}
			}
			s = math.Min(next, L)
		}
		wk.dist = append(wk.dist, s)
		if t > 24*3600 {
			break
		}
	}
	wk.Duration = t
	wk.Frames = int(math.Floor(t*sc.Device.FPS)) + 1
	return wk, nil
}

// Close frees the world's textures.
func (wk *Walk) Close() { wk.World.Close() }

// FrameTime returns the time of frame i in seconds since the start.
func (wk *Walk) FrameTime(i int) float64 { return float64(i) / wk.Sc.Device.FPS }

// distAt interpolates the distance walked at time t.
func (wk *Walk) distAt(t float64) float64 {
	k := t / wk.dt
	i := int(k)
	if i < 0 {
		return 0
	}
	if i >= len(wk.dist)-1 {
		return wk.dist[len(wk.dist)-1]
	}
	f := k - float64(i)
	return wk.dist[i]*(1-f) + wk.dist[i+1]*f
}

// PoseAt returns the device camera pose at t seconds.
func (wk *Walk) PoseAt(t float64) Pose {
	d := wk.Sc.Device
	j := d.Jitter
	s := wk.distAt(t)
	speed := (wk.distAt(t+0.25) - wk.distAt(t-0.25)) / 0.5
	if t < 0.25 {
		speed = (wk.distAt(t+0.5) - wk.distAt(t)) / 0.5
	}
	p, _, _ := wk.route.at(s)
	hdg := wk.route.heading(s, 2.5)
	// the body sways while walking, much less while standing
	a := clamp(speed/math.Max(wk.Sc.Route.Speed, 0.1), 0.15, 1.2)
	f := j.StepHz
	ph := wk.phase
	w := 2 * math.Pi * f
	yawJ := a * j.Yaw * math.Sin(w/2*t+ph[1])
	pitchJ := a * j.Pitch * math.Sin(w*t+ph[2])
	rollJ := a * j.Roll * math.Sin(w/2*t+ph[3])
	bob := a * j.Bob * math.Sin(w*t+ph[2]+0.5)
	yawRate := a * j.Yaw * w / 2 * math.Cos(w/2*t+ph[1])
	h2 := wk.route.heading(wk.distAt(t+0.1), 2.5)
	h1 := wk.route.heading(wk.distAt(t-0.1), 2.5)
	yawRate += geo.AngleDiff(h2, h1) / 0.2
	eye := Vec3{p.X, p.Y, d.EyeHeight + bob}
	return Pose{T: t, Pos: Vec3{p.X, p.Y, 0}, Eye: eye, Heading: hdg,
		Yaw:   geo.NormDeg(hdg + d.Mount.Yaw + yawJ),
		Pitch: d.Mount.Pitch + pitchJ, Roll: d.Mount.Roll + rollJ,
		Speed: speed, YawRate: yawRate, S: s}
}

// View returns the device camera's view at pose p.
func (wk *Walk) View(p Pose) *View {
	d := wk.Sc.Device
	return NewView(d.Width, d.Height, d.HFOV, p.Eye, p.Yaw, p.Pitch, p.Roll)
}

// frameFX returns the camera effects of frame i at pose p.
func (wk *Walk) frameFX(i int, p Pose) PostFX {
	d := wk.Sc.Device
	rng := rand.New(rand.NewPCG(uint64(wk.Sc.Seed), uint64(i)+0x77))
	exposure := 0.012
	noise := d.Noise
	if wk.World.Light.Dusk {
		exposure, noise = 0.035, d.Noise*2
	}
	v := wk.View(p)
	blurX := d.Blur * v.F * math.Abs(rad(p.YawRate)) * exposure
	blurY := d.Blur * v.F * math.Abs(rad(d.Jitter.Pitch*2*math.Pi*d.Jitter.StepHz)) * exposure * 0.5
	gain := 1 + d.Exposure*math.Sin(2*math.Pi*p.T/23+wk.phase[0])
	return PostFX{Gain: gain, BlurX: blurX, BlurY: blurY, Noise: noise,
		NoiseX: rng.IntN(noisePad), NoiseY: rng.IntN(noisePad)}
}

// RenderFrame renders frame i into r.Frame and returns its pose and truth.
func (wk *Walk) RenderFrame(r *Renderer, i int) (Pose, []TruthBox) {
	p := wk.PoseAt(wk.FrameTime(i))
	v := wk.View(p)
	r.Render(wk.World, v)
	r.Post(wk.frameFX(i, p))
	return p, wk.World.Truth(v)
}

// GNSSFixes returns the receiver's output for the whole walk, one fix per
// epoch at the configured rate from the time of frame 0, degraded by the
// noise, drift and dropout model. truth holds the true positions.
func (wk *Walk) GNSSFixes() (fixes []gnss.Fix, truth []geo.LatLon) {
	g := wk.Sc.GNSS
	rng := rand.New(rand.NewPCG(uint64(wk.Sc.Seed), 0x6e55))
	be, bn := g.Drift.Sigma*rng.NormFloat64(), g.Drift.Sigma*rng.NormFloat64()
	sats := 9
	dt := 1 / g.Rate
	n := int(math.Floor(wk.Duration*g.Rate+1e-9)) + 1
	for k := 0; k < n; k++ {
		t := float64(k) * dt
		if k > 0 && g.Drift.Tau > 0 {
			a := math.Exp(-dt / g.Drift.Tau)
			q := g.Drift.Sigma * math.Sqrt(1-a*a)
			be = be*a + q*rng.NormFloat64()
			bn = bn*a + q*rng.NormFloat64()
		}
		ne, nn := g.Sigma*rng.NormFloat64(), g.Sigma*rng.NormFloat64()
		if rng.Float64() < 0.02 {
			sats = clampInt(sats+rng.IntN(3)-1, 6, 12)
		}
		p := wk.PoseAt(t)
		ll := wk.World.ENU.FromLocal(p.Pos.X, p.Pos.Y)
		truth = append(truth, ll)
		f := gnss.Fix{Time: wk.Sc.Start.Add(time.Duration(t * float64(time.Second))).Round(10 * time.Millisecond)}
		drop := false
		for _, d := range g.Dropouts {
			if t >= d.Start && t < d.Start+d.Duration {
				drop = true
			}
		}
		vn := rng.NormFloat64() * 0.05
		ve := rng.NormFloat64() * 0.05
		hn := wk.route.heading(p.S, 2.5)
		vx := p.Speed*math.Sin(rad(hn)) + ve
		vy := p.Speed*math.Cos(rad(hn)) + vn
		if !drop {
			f.Valid, f.Quality = true, 1
			f.Pos = wk.World.ENU.FromLocal(p.Pos.X+be+ne, p.Pos.Y+bn+nn)
			f.Alt = g.Alt + 1.5*rng.NormFloat64()
			f.Speed, f.HasSpeed = math.Hypot(vx, vy), true
			if f.Speed > 0.3 {
				f.Course, f.HasCourse = compass(vx, vy), true
			}
			f.HDOP = math.Round((0.7+0.12*math.Max(g.Sigma, 0.5)+0.2*rng.Float64())*10) / 10
			f.Sats = sats
			f.AccuracyM = math.Hypot(g.Sigma, g.Drift.Sigma)
		}
		fixes = append(fixes, f)
	}
	return fixes, truth
}

func clampInt(v, lo, hi int) int { return max(lo, min(hi, v)) }

// WalkOptions tune RunWalk.
type WalkOptions struct {
	Workers   int       // rendering goroutines (0 = number of CPUs)
	Progress  io.Writer // progress lines (nil = none)
	MaxFrames int       // stop after this many frames (0 = all), for quick checks
}

// WalkMeta is walk.json: what a reader needs to interpret the other files.
type WalkMeta struct {
	Scenario string      `json:"scenario"`
	Start    string      `json:"start"`
	FPS      float64     `json:"fps"`
	Frames   int         `json:"frames"`
	Width    int         `json:"width"`
	Height   int         `json:"height"`
	HFOV     float64     `json:"hfov_deg"`
	FocalPx  float64     `json:"focal_px"`
	Mount    MountSpec   `json:"mount"`
	EyeM     float64     `json:"eye_height_m"`
	Origin   LatLonSpec  `json:"origin"`
	GNSS     GNSSMeta    `json:"gnss"`
	Seed     int64       `json:"seed"`
	Lighting string      `json:"lighting"`
	Cameras  int         `json:"cameras"`
	RouteM   float64     `json:"route_m"`
	Duration float64     `json:"duration_s"`
	Files    interface{} `json:"files"`
}

// GNSSMeta describes the simulated receiver in walk.json.
type GNSSMeta struct {
	Rate     float64       `json:"rate_hz"`
	Sigma    float64       `json:"sigma_m"`
	Drift    DriftSpec     `json:"drift"`
	Dropouts []DropoutSpec `json:"dropouts"` // never null
}

// FrameTruth is one line of frames.jsonl.
type FrameTruth struct {
	Frame int        `json:"frame"`
	Time  string     `json:"time"`
	Boxes []TruthBox `json:"boxes"`
	Pose  PoseJSON   `json:"pose"`
}

// PoseJSON is the true device pose of a frame (for debugging and tests of
// the locator; the firmware never gets it).
type PoseJSON struct {
	Lat     float64 `json:"lat"`
	Lon     float64 `json:"lon"`
	Heading float64 `json:"heading_deg"`
	Yaw     float64 `json:"yaw_deg"`
	Pitch   float64 `json:"pitch_deg"`
	Roll    float64 `json:"roll_deg"`
	Eye     float64 `json:"eye_m"`
}

// Walk output file names (contract C in the design notes).
const (
	WalkVideo  = "walk.avi"
	WalkNMEA   = "track.nmea"
	WalkTruth  = "truth.geojson"
	WalkFrames = "frames.jsonl"
	WalkMetaF  = "walk.json"
)

type frameResult struct {
	i     int
	pose  Pose
	boxes []TruthBox
	r     *Renderer
}

// RunWalk renders the walk of sc into outDir: walk.avi (MJPEG), track.nmea,
// truth.geojson, frames.jsonl and walk.json.
func RunWalk(ctx context.Context, sc *Scenario, bg *Backgrounds, outDir string, opt WalkOptions) (*WalkMeta, error) {
	wk, err := NewWalk(sc, bg)
	if err != nil {
		return nil, err
	}
	defer wk.Close()
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating output folder: %w", err)
	}
	nframes := wk.Frames
	if opt.MaxFrames > 0 && opt.MaxFrames < nframes {
		nframes = opt.MaxFrames
	}
	d := sc.Device
	meta := &WalkMeta{Scenario: sc.Name, Start: sc.Start.Format(time.RFC3339Nano), FPS: d.FPS, Frames: nframes,
		Width: d.Width, Height: d.Height, HFOV: d.HFOV, FocalPx: float64(d.Width) / 2 / math.Tan(rad(d.HFOV)/2),
		Mount: d.Mount, EyeM: d.EyeHeight, Origin: sc.Origin,
		GNSS: GNSSMeta{Rate: sc.GNSS.Rate, Sigma: sc.GNSS.Sigma, Drift: sc.GNSS.Drift, Dropouts: append([]DropoutSpec{}, sc.GNSS.Dropouts...)},
		Seed: sc.Seed, Lighting: sc.Lighting, Cameras: len(wk.World.Cameras), RouteM: math.Round(wk.route.Len()*10) / 10,
		Duration: math.Round(wk.Duration*100) / 100,
		Files:    map[string]string{"video": WalkVideo, "nmea": WalkNMEA, "truth": WalkTruth, "frames": WalkFrames}}
	if err := writeJSONFile(filepath.Join(outDir, WalkMetaF), meta); err != nil {
		return nil, err
	}
	if err := wk.WriteTruth(filepath.Join(outDir, WalkTruth)); err != nil {
		return nil, err
	}
	if err := wk.WriteNMEA(filepath.Join(outDir, WalkNMEA)); err != nil {
		return nil, err
	}
	vpath := filepath.Join(outDir, WalkVideo)
	vw, err := gocv.VideoWriterFile(vpath, "MJPG", d.FPS, d.Width, d.Height, true)
	if err != nil {
		return nil, fmt.Errorf("opening video writer %s: %w", vpath, err)
	}
	if !vw.IsOpened() {
		vw.Close()
		return nil, fmt.Errorf("opening video writer %s: OpenCV cannot write MJPEG AVI here", vpath)
	}
	defer vw.Close()
	ff, err := os.Create(filepath.Join(outDir, WalkFrames))
	if err != nil {
		return nil, fmt.Errorf("creating frames file: %w", err)
	}
	defer ff.Close()
	fw := bufio.NewWriter(ff)

	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pool := make(chan *Renderer, workers+2)
	for k := 0; k < workers+2; k++ {
		r := NewRenderer(d.Width, d.Height, uint64(sc.Seed))
		defer r.Close()
		pool <- r
	}
	jobs := make(chan int)
	results := make(chan frameResult, workers+2)
	go func() {
		defer close(jobs)
		for i := 0; i < nframes; i++ {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }() // before the renderers are closed
	for k := 0; k < workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				// Take a renderer before a job: frames are handed out in
				// order, so the frame the writer waits for always has one.
				var r *Renderer
				select {
				case r = <-pool:
				case <-ctx.Done():
					return
				}
				i, ok := <-jobs
				if !ok {
					pool <- r
					return
				}
				p, boxes := wk.RenderFrame(r, i)
				select {
				case results <- frameResult{i, p, boxes, r}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(results)
	}()
	prog := newProgress(opt.Progress, "sim walk", nframes, "frames")
	pending := map[int]frameResult{}
	next := 0
	for res := range results {
		pending[res.i] = res
		for {
			fr, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			if err := vw.Write(fr.r.Frame); err != nil {
				return nil, fmt.Errorf("writing frame %d: %w", next, err)
			}
			pool <- fr.r
			if err := wk.writeFrameLine(fw, next, fr.pose, fr.boxes); err != nil {
				return nil, err
			}
			next++
			prog.step(next)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if next != nframes {
		return nil, fmt.Errorf("rendered %d of %d frames", next, nframes)
	}
	prog.done()
	if err := fw.Flush(); err != nil {
		return nil, fmt.Errorf("writing frames file: %w", err)
	}
	if err := ff.Close(); err != nil {
		return nil, fmt.Errorf("writing frames file: %w", err)
	}
	if err := vw.Close(); err != nil {
		return nil, fmt.Errorf("closing video %s: %w", vpath, err)
	}
	return meta, nil
}

func (wk *Walk) writeFrameLine(w io.Writer, i int, p Pose, boxes []TruthBox) error {
	ll := wk.World.ENU.FromLocal(p.Pos.X, p.Pos.Y)
	if boxes == nil {
		boxes = []TruthBox{}
	}
	t := wk.Sc.Start.Add(time.Duration(wk.FrameTime(i) * float64(time.Second))).Round(time.Microsecond)
	line := FrameTruth{Frame: i, Time: t.Format(time.RFC3339Nano), Boxes: boxes,
		Pose: PoseJSON{Lat: round(ll.Lat, 8), Lon: round(ll.Lon, 8), Heading: round(p.Heading, 2), Yaw: round(p.Yaw, 2),
			Pitch: round(p.Pitch, 2), Roll: round(p.Roll, 2), Eye: round(p.Eye.Z, 3)}}
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("writing frames file: %w", err)
	}
	return nil
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// WriteNMEA writes the GNSS receiver's sentences for the whole walk.
func (wk *Walk) WriteNMEA(path string) error {
	fixes, _ := wk.GNSSFixes()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating NMEA log: %w", err)
	}
	bw := bufio.NewWriter(f)
	for _, fx := range fixes {
		bw.WriteString(gnss.FormatEpoch(wk.Sc.GNSS.Talker, fx, *wk.Sc.GNSS.VTG))
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("writing NMEA log %s: %w", path, err)
	}
	return f.Close()
}

// WriteTruth writes truth.geojson: one Point feature per camera.
func (wk *Walk) WriteTruth(path string) error {
	return writeJSONFile(path, wk.World.TruthGeoJSON())
}

// TruthGeoJSON returns the cameras as an RFC 7946 FeatureCollection.
func (w *World) TruthGeoJSON() map[string]any {
	feats := []any{}
	for _, c := range w.Cameras {
		feats = append(feats, map[string]any{
			"type":     "Feature",
			"geometry": map[string]any{"type": "Point", "coordinates": []float64{round(c.LatLon.Lon, 8), round(c.LatLon.Lat, 8)}},
			"properties": map[string]any{
				"id": c.ID, "type": c.Type, "mount": c.Mount,
				"direction": round(c.Direction, 1), "tilt_deg": round(c.Tilt, 1),
				"height_m": round(c.Pos.Z, 2),
				"x_m":      round(c.Pos.X, 2), "y_m": round(c.Pos.Y, 2),
			},
		})
	}
	return map[string]any{"type": "FeatureCollection", "features": feats}
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", filepath.Base(path), err)
	}
	b = append(b, '\n')
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// progress prints "label: n/total unit (p%) rate/s ETA" lines on w, at most
// twice a second, with \r updates on a terminal-like stream.
type progress struct {
	w           io.Writer
	label, unit string
	total       int
	start, last time.Time
	tty         bool // rewrite one line with \r; otherwise a line every few seconds
}

func newProgress(w io.Writer, label string, total int, unit string) *progress {
	now := time.Now()
	p := &progress{w: w, label: label, unit: unit, total: total, start: now, last: now}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) step(n int) {
	if p.w == nil {
		return
	}
	now := time.Now()
	every := 5 * time.Second
	if p.tty {
		every = 250 * time.Millisecond
	}
	if now.Sub(p.last) < every || n >= p.total {
		return
	}
	p.last = now
	el := now.Sub(p.start).Seconds()
	rate := float64(n) / math.Max(el, 1e-9)
	eta := float64(p.total-n) / math.Max(rate, 1e-9)
	end := "\n"
	if p.tty {
		end = " \r"
	}
	fmt.Fprintf(p.w, "%s: %d/%d %s (%.0f%%) %.1f/s ETA %.0fs%s", p.label, n, p.total, p.unit, 100*float64(n)/float64(max(p.total, 1)), rate, eta, end)
}

func (p *progress) done() {
	if p.w == nil {
		return
	}
	el := time.Since(p.start).Seconds()
	fmt.Fprintf(p.w, "%s: %d %s in %.1fs (%.1f/s)          \n", p.label, p.total, p.unit, el, float64(p.total)/math.Max(el, 1e-9))
}
