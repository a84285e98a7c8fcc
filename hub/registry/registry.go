// Package registry merges sightings of one physical camera, reported by many
// walks and devices, into one camera with a refined position, first/last seen,
// the number of independent walks, and a status: single (one walk), confirmed
// (two or more independent walks or devices, or a reviewer said so) or
// rejected (by a reviewer).
//
// The result is a function of the set of sightings and reviews only, never of
// the order they arrive in: sightings are clustered greedily in id order
// (UUIDv7 ids sort by creation time) inside "components" — groups of
// sightings linked by chains of neighbours closer than the largest merge
// distance. A sighting can only join a camera that has a member within that
// distance, so components cluster independently and a late sighting only
// re-clusters its own component. Several hub instances that read the same
// store therefore show the same cameras.
package registry

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/wire"
)

// Status of a camera.
const (
	StatusSingle    = "single"    // seen on one walk
	StatusConfirmed = "confirmed" // seen on ≥ 2 independent walks or devices, or confirmed by a reviewer
	StatusRejected  = "rejected"  // rejected by a reviewer
)

// Review decisions the registry understands (as stored by the hub).
const (
	DecisionConfirm = "confirm"
	DecisionReject  = "reject"
	DecisionClear   = "clear"
)

// Config sets how sightings merge.
type Config struct {
	// K scales the combined 1-sigma error of a sighting and a camera into the
	// merge distance: they merge when d ≤ max(MinGateM, K·sqrt(e1²+e2²)),
	// capped at MaxGateM.
	K float64
	// MinGateM is the merge distance for very precise sightings (metres).
	MinGateM float64
	// MaxGateM caps the merge distance (metres) so that imprecise sightings
	// cannot swallow a whole street; it is also the link distance of components.
	MaxGateM float64
}

// DefaultConfig is the merge rule used by the hub: d ≤ max(3, 3·sqrt(e1²+e2²)), at most
// 25 m. K = 3 keeps 99 % of true pairs with Gaussian 2-D errors; two cameras that
// close with compatible types are rarely told apart by a walker anyway, and a
// walk never merges its own sightings.
func DefaultConfig() Config { return Config{K: 3, MinGateM: 3, MaxGateM: 25} }

// Camera is one physical camera as merged from its sightings. A Camera value
// is never modified after the registry hands it out; changes make a new one.
type Camera struct {
	ID         string    `json:"id"` // id of its earliest sighting (lowest UUIDv7)
	Lat        float64   `json:"lat"`
	Lon        float64   `json:"lon"`
	ErrM       float64   `json:"err_m"` // 1-sigma error of the merged position
	Type       string    `json:"type"`
	Mount      string    `json:"mount"`
	Direction  *float64  `json:"direction,omitempty"`
	Confidence float64   `json:"confidence"` // highest of its sightings
	Status     string    `json:"status"`
	Review     string    `json:"review,omitempty"` // the reviewer's decision in force: confirm|reject
	Sightings  int       `json:"sightings"`
	Walks      int       `json:"walks"`
	Devices    int       `json:"devices"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
	// Cell is the H3 cell (resolution geo.CellRes) holding the camera.
	Cell string `json:"cell"`
	// SightingIDs lists the merged sightings, in id order.
	SightingIDs []string `json:"sighting_ids"`
}

// obs is one sighting inside the registry.
type obs struct {
	wire.Sighting
	parent  *obs // union-find; nil at a root
	comp    *comp
	cluster *cluster
}

type comp struct {
	members []*obs
	maxID   string
	cameras []*Camera
}

type cluster struct {
	members []*obs
	walks   map[string]bool
	types   map[string]bool
	sw      float64 // sum of weights
	swLat   float64
	swLon   float64
	lat     float64
	lon     float64
	err     float64
}

type review struct {
	seq      int64
	decision string
}

// Registry is the set of merged cameras. It is safe for concurrent use.
type Registry struct {
	cfg Config

	mu        sync.RWMutex
	obs       map[string]*obs
	grid      grid[*obs]
	cams      map[string]*Camera // by camera id
	camGrid   grid[*Camera]
	reviews   map[string]review // by camera (= sighting) id
	reviewSeq int64

	// version counts changes; stats caches Stats for one version.
	version      int64
	stats        *Stats
	statsVersion int64

	// Sighting totals, kept up to date by Add.
	byDevice map[string]*deviceAgg
	byDay    map[string]int
	walks    map[string]bool
}

type deviceAgg struct {
	sightings int
	walks     map[string]bool
	last      time.Time
}

// New returns an empty registry.
func New(cfg Config) *Registry {
	if cfg.K <= 0 || cfg.MinGateM <= 0 || cfg.MaxGateM < cfg.MinGateM {
		cfg = DefaultConfig()
	}
	return &Registry{
		cfg:      cfg,
		obs:      map[string]*obs{},
		grid:     newGrid[*obs](cfg.MaxGateM),
		cams:     map[string]*Camera{},
		camGrid:  newGrid[*Camera](500),
		reviews:  map[string]review{},
		byDevice: map[string]*deviceAgg{},
		byDay:    map[string]int{},
		walks:    map[string]bool{},
	}
}

// count adds a new sighting to the totals.
func (r *Registry) count(s *wire.Sighting) {
	d := r.byDevice[s.Device]
	if d == nil {
		d = &deviceAgg{walks: map[string]bool{}}
		r.byDevice[s.Device] = d
	}
	d.sightings++
	d.walks[s.Walk] = true
	if s.Time.After(d.last) {
		d.last = s.Time
	}
	r.byDay[s.Time.UTC().Format("2006-01-02")]++
	r.walks[s.Walk] = true
}

// Compatible reports whether sightings of types a and b may be one camera:
// the same type, either unknown, a PTZ in a dome housing, or an ALPR camera
// that looks like a bullet.
func Compatible(a, b string) bool {
	if a == b || a == "unknown" || b == "unknown" {
		return true
	}
	pair := a + "/" + b
	switch pair {
	case "dome/ptz", "ptz/dome", "bullet/alpr", "alpr/bullet":
		return true
	}
	return false
}

func find(o *obs) *obs {
	for o.parent != nil {
		if o.parent.parent != nil {
			o.parent = o.parent.parent
		}
		o = o.parent
	}
	return o
}

// Add merges sightings into the registry and returns how many were new.
// Sightings already known (by id) are ignored. Order and batching do not
// change the result.
func (r *Registry) Add(ss []wire.Sighting) int {
	if len(ss) == 0 {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	type pending struct {
		oldMax string
		fresh  []*obs
		merged bool
	}
	touched := map[*obs]*pending{} // by root, before this batch's unions are final
	var added []*obs
	for i := range ss {
		s := ss[i]
		if _, ok := r.obs[s.ID]; ok {
			continue
		}
		o := &obs{Sighting: s}
		o.comp = &comp{members: []*obs{o}, maxID: ""}
		r.obs[s.ID] = o
		r.count(&s)
		added = append(added, o)
		r.grid.near(s.Lat, s.Lon, r.cfg.MaxGateM, func(n *obs) {
			if n == o || distM(o.Lat, o.Lon, n.Lat, n.Lon) > r.cfg.MaxGateM {
				return
			}
			r.union(o, n)
		})
		r.grid.add(s.Lat, s.Lon, o)
	}
	if len(added) == 0 {
		return 0
	}
	r.version++
	// Group the new sightings by their final component.
	for _, o := range added {
		root := find(o)
		p := touched[root]
		if p == nil {
			p = &pending{}
			touched[root] = p
		}
		p.fresh = append(p.fresh, o)
	}
	for root, p := range touched {
		c := root.comp
		// The component's previous maximum id is the max over members that
		// are not new in this batch.
		fresh := map[*obs]bool{}
		for _, o := range p.fresh {
			fresh[o] = true
		}
		oldMax := ""
		for _, m := range c.members {
			if !fresh[m] && m.ID > oldMax {
				oldMax = m.ID
			}
		}
		sort.Slice(p.fresh, func(i, j int) bool { return p.fresh[i].ID < p.fresh[j].ID })
		if oldMax == "" || p.fresh[0].ID > oldMax {
			// Appending in id order gives the same clusters as re-clustering.
			for _, o := range p.fresh {
				r.assign(o)
			}
		} else {
			r.recluster(c)
		}
		r.refresh(c)
	}
	return len(added)
}

// union links the components of a and b.
func (r *Registry) union(a, b *obs) {
	ra, rb := find(a), find(b)
	if ra == rb {
		return
	}
	if len(ra.comp.members) < len(rb.comp.members) {
		ra, rb = rb, ra
	}
	ca, cb := ra.comp, rb.comp
	ca.members = append(ca.members, cb.members...)
	if cb.maxID > ca.maxID {
		ca.maxID = cb.maxID
	}
	// The absorbed component's cameras are rebuilt by refresh of ca.
	ca.cameras = append(ca.cameras, cb.cameras...)
	rb.parent = ra
	rb.comp = nil
}

func (r *Registry) gate(o *obs, c *cluster) float64 {
	g := r.cfg.K * math.Sqrt(o.ErrM*o.ErrM+c.err*c.err)
	if g < r.cfg.MinGateM {
		g = r.cfg.MinGateM
	}
	if g > r.cfg.MaxGateM {
		g = r.cfg.MaxGateM
	}
	return g
}

// assign puts o into the best cluster among those with an already assigned
// member within MaxGateM, or into a new cluster.
func (r *Registry) assign(o *obs) {
	var best *cluster
	bestScore := math.Inf(1)
	seen := map[*cluster]bool{}
	r.grid.near(o.Lat, o.Lon, r.cfg.MaxGateM, func(n *obs) {
		c := n.cluster
		if n == o || c == nil || seen[c] || distM(o.Lat, o.Lon, n.Lat, n.Lon) > r.cfg.MaxGateM {
			return
		}
		seen[c] = true
		if c.walks[o.Walk] {
			return // one walk never reports one camera twice
		}
		for t := range c.types {
			if !Compatible(t, o.Type) {
				return
			}
		}
		d := distM(o.Lat, o.Lon, c.lat, c.lon)
		g := r.gate(o, c)
		if d > g {
			return
		}
		score := d / g
		if score < bestScore || score == bestScore && c.members[0].ID < best.members[0].ID {
			best, bestScore = c, score
		}
	})
	if best == nil {
		best = &cluster{walks: map[string]bool{}, types: map[string]bool{}}
	}
	best.add(o)
}

func weight(errM float64) float64 {
	e := math.Max(errM, 0.5)
	return 1 / (e * e)
}

func (c *cluster) add(o *obs) {
	c.members = append(c.members, o)
	c.walks[o.Walk] = true
	c.types[o.Type] = true
	w := weight(o.ErrM)
	if len(c.members) == 1 {
		c.swLat, c.swLon, c.sw = 0, 0, 0
	}
	// Longitudes relative to the first member avoid trouble at ±180°.
	ref := c.members[0].Lon
	c.sw += w
	c.swLat += w * o.Lat
	c.swLon += w * lonDiff(o.Lon, ref)
	c.lat = c.swLat / c.sw
	c.lon = normLon(ref + c.swLon/c.sw)
	c.err = 1 / math.Sqrt(c.sw)
	o.cluster = c
}

// recluster rebuilds a component's clusters from scratch in id order.
func (r *Registry) recluster(c *comp) {
	sort.Slice(c.members, func(i, j int) bool { return c.members[i].ID < c.members[j].ID })
	for _, m := range c.members {
		m.cluster = nil
	}
	for _, m := range c.members {
		r.assign(m)
	}
}

// refresh replaces the component's cameras by ones built from its clusters.
func (r *Registry) refresh(c *comp) {
	for _, cam := range c.cameras {
		r.dropCamera(cam)
	}
	c.cameras = c.cameras[:0]
	maxID := ""
	clusters := map[*cluster]bool{}
	for _, m := range c.members {
		if m.ID > maxID {
			maxID = m.ID
		}
		if m.cluster != nil {
			clusters[m.cluster] = true
		}
	}
	c.maxID = maxID
	for cl := range clusters {
		cam := r.build(cl)
		c.cameras = append(c.cameras, cam)
		r.cams[cam.ID] = cam
		r.camGrid.add(cam.Lat, cam.Lon, cam)
	}
}

func (r *Registry) dropCamera(cam *Camera) {
	if r.cams[cam.ID] == cam {
		delete(r.cams, cam.ID)
	}
	r.camGrid.remove(cam.Lat, cam.Lon, cam)
}

// build derives a Camera from a cluster. It depends only on the members
// (sorted by id here), so the same members always give the same camera.
func (r *Registry) build(cl *cluster) *Camera {
	ms := append([]*obs(nil), cl.members...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	cam := &Camera{ID: ms[0].ID, Sightings: len(ms), SightingIDs: make([]string, len(ms))}
	ref := ms[0].Lon
	var sw, swLat, swLon float64
	typeScore := map[string]float64{}
	mounts := map[string]int{}
	walks, devices := map[string]bool{}, map[string]bool{}
	var dx, dy, dw float64
	for i, m := range ms {
		cam.SightingIDs[i] = m.ID
		w := weight(m.ErrM)
		sw += w
		swLat += w * m.Lat
		swLon += w * lonDiff(m.Lon, ref)
		typeScore[m.Type] += m.Confidence + 1e-9
		if m.Mount != "" && m.Mount != "unknown" {
			mounts[m.Mount]++
		}
		walks[m.Walk] = true
		devices[m.Device] = true
		if m.Direction != nil {
			a := *m.Direction * math.Pi / 180
			c := math.Max(m.Confidence, 1e-3)
			dx += c * math.Sin(a)
			dy += c * math.Cos(a)
			dw += c
		}
		if m.Confidence > cam.Confidence {
			cam.Confidence = m.Confidence
		}
		if cam.FirstSeen.IsZero() || m.Time.Before(cam.FirstSeen) {
			cam.FirstSeen = m.Time
		}
		if m.Time.After(cam.LastSeen) {
			cam.LastSeen = m.Time
		}
	}
	cam.Lat = swLat / sw
	cam.Lon = normLon(ref + swLon/sw)
	cam.ErrM = 1 / math.Sqrt(sw)
	cam.Cell = geo.Cell(geo.LatLon{Lat: cam.Lat, Lon: cam.Lon}, geo.CellRes)
	cam.Type = "unknown"
	best := 0.0
	for _, t := range wire.CameraTypes { // fixed order breaks ties
		if t != "unknown" && typeScore[t] > best {
			cam.Type, best = t, typeScore[t]
		}
	}
	cam.Mount = "unknown"
	bestN := 0
	for _, m := range wire.Mounts {
		if mounts[m] > bestN {
			cam.Mount, bestN = m, mounts[m]
		}
	}
	if dw > 0 && math.Hypot(dx, dy) > 1e-9 {
		d := math.Atan2(dx, dy) * 180 / math.Pi
		if d < 0 {
			d += 360
		}
		d = math.Round(d*10) / 10
		if d >= 360 {
			d -= 360
		}
		cam.Direction = &d
	}
	cam.Walks, cam.Devices = len(walks), len(devices)
	r.applyStatus(cam, ms)
	return cam
}

func (r *Registry) applyStatus(cam *Camera, ms []*obs) {
	var latest review
	for _, m := range ms {
		if rv, ok := r.reviews[m.ID]; ok && rv.seq > latest.seq {
			latest = rv
		}
	}
	cam.Review = ""
	switch {
	case latest.decision == DecisionReject:
		cam.Status, cam.Review = StatusRejected, DecisionReject
	case latest.decision == DecisionConfirm:
		cam.Status, cam.Review = StatusConfirmed, DecisionConfirm
	case cam.Walks >= 2 || cam.Devices >= 2:
		cam.Status = StatusConfirmed
	default:
		cam.Status = StatusSingle
	}
}

// Review applies a reviewer's decision (confirm, reject or clear) about the
// camera with the given id, or the camera that holds that sighting id. seq
// orders decisions: the highest seq per camera is in force; replays of older
// decisions change nothing. It reports whether a camera holds the id now (a
// decision about a sighting not yet known is kept and applies once it arrives).
func (r *Registry) Review(id, decision string, seq int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq > r.reviewSeq {
		r.reviewSeq = seq
	}
	r.version++
	if old, ok := r.reviews[id]; !ok || seq > old.seq {
		r.reviews[id] = review{seq: seq, decision: decision}
	}
	o := r.obs[id]
	if o == nil {
		return false
	}
	old := cameraOf(o)
	if old == nil {
		return false
	}
	cam := *old
	ms := make([]*obs, 0, len(cam.SightingIDs))
	for _, sid := range cam.SightingIDs {
		ms = append(ms, r.obs[sid])
	}
	r.applyStatus(&cam, ms)
	root := find(o)
	for i, c := range root.comp.cameras {
		if c == old {
			root.comp.cameras[i] = &cam
		}
	}
	r.dropCamera(old)
	r.cams[cam.ID] = &cam
	r.camGrid.add(cam.Lat, cam.Lon, &cam)
	return true
}

func containsID(ids []string, id string) bool {
	i := sort.SearchStrings(ids, id)
	return i < len(ids) && ids[i] == id
}

// ReviewSeq returns the highest review sequence number applied.
func (r *Registry) ReviewSeq() int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.reviewSeq
}

// Camera returns the camera with the given id, or the camera holding the
// sighting with that id.
func (r *Registry) Camera(id string) (*Camera, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if c, ok := r.cams[id]; ok {
		return c, true
	}
	o := r.obs[id]
	if o == nil {
		return nil, false
	}
	c := cameraOf(o)
	return c, c != nil
}

// cameraOf returns the camera that holds sighting o.
func cameraOf(o *obs) *Camera {
	for _, c := range find(o).comp.cameras {
		if containsID(c.SightingIDs, o.ID) {
			return c
		}
	}
	return nil
}

// Filter selects cameras. Zero fields select everything.
type Filter struct {
	// BBox is west, south, east, north in degrees (RFC 7946 order); nil = world.
	BBox *[4]float64
	// Types and Statuses restrict to these values (any of them) when non-empty.
	Types    []string
	Statuses []string
	// Limit caps the number returned (0 = no limit); the lowest ids win.
	Limit int
}

func (f *Filter) match(c *Camera) bool {
	if f.BBox != nil {
		b := f.BBox
		if c.Lat < b[1] || c.Lat > b[3] {
			return false
		}
		if b[0] <= b[2] {
			if c.Lon < b[0] || c.Lon > b[2] {
				return false
			}
		} else if c.Lon < b[0] && c.Lon > b[2] { // crosses the antimeridian
			return false
		}
	}
	if len(f.Types) > 0 && !has(f.Types, c.Type) {
		return false
	}
	if len(f.Statuses) > 0 && !has(f.Statuses, c.Status) {
		return false
	}
	return true
}

func has(set []string, v string) bool {
	for _, s := range set {
		if s == v {
			return true
		}
	}
	return false
}

// Cameras returns the cameras that match f, sorted by id.
func (r *Registry) Cameras(f Filter) []*Camera {
	r.mu.RLock()
	var out []*Camera
	if f.BBox != nil && f.BBox[0] <= f.BBox[2] {
		b := f.BBox
		r.camGrid.box(b[1], b[0], b[3], b[2], func(c *Camera) {
			if f.match(c) {
				out = append(out, c)
			}
		})
	} else {
		out = make([]*Camera, 0, len(r.cams))
		for _, c := range r.cams {
			if f.match(c) {
				out = append(out, c)
			}
		}
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out
}

// Len returns the number of cameras (all statuses) and of sightings.
func (r *Registry) Len() (cameras, sightings int) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.cams), len(r.obs)
}

// Stats are totals over the registry.
type Stats struct {
	Cameras   int                    // not rejected
	ByStatus  map[string]int         // all cameras by status
	ByType    map[string]int         // not rejected, by type
	Sightings int                    // all sightings
	ByDevice  map[string]DeviceStats // sightings and walks per device
	ByDay     map[string]DayStats    // per UTC day of the sighting time
	Walks     int                    // walks with at least one sighting
}

// DeviceStats counts one device's contributions.
type DeviceStats struct {
	Sightings int       `json:"sightings"`
	Walks     int       `json:"walks"`
	LastSeen  time.Time `json:"last_sighting"`
}

// DayStats counts one day's activity.
type DayStats struct {
	Sightings  int `json:"sightings"`
	NewCameras int `json:"new_cameras"` // cameras first seen that day (not rejected)
}

// Stats computes totals by status, type, device and day. The result is
// cached until the registry changes; callers must not modify its maps.
func (r *Registry) Stats() Stats {
	r.mu.RLock()
	if r.stats != nil && r.statsVersion == r.version {
		st := *r.stats
		r.mu.RUnlock()
		return st
	}
	version := r.version
	st := r.computeStats()
	r.mu.RUnlock()
	r.mu.Lock()
	if r.version == version {
		r.stats, r.statsVersion = &st, version
	}
	r.mu.Unlock()
	return st
}

func (r *Registry) computeStats() Stats {
	st := Stats{ByStatus: map[string]int{}, ByType: map[string]int{}, ByDevice: map[string]DeviceStats{}, ByDay: map[string]DayStats{}}
	newByDay := map[int64]int{} // by days since 1970
	for _, c := range r.cams {
		st.ByStatus[c.Status]++
		if c.Status == StatusRejected {
			continue
		}
		st.Cameras++
		st.ByType[c.Type]++
		newByDay[c.FirstSeen.Unix()/86400]++
	}
	for d, n := range newByDay {
		key := time.Unix(d*86400, 0).UTC().Format("2006-01-02")
		ds := st.ByDay[key]
		ds.NewCameras += n
		st.ByDay[key] = ds
	}
	for day, n := range r.byDay {
		ds := st.ByDay[day]
		ds.Sightings = n
		st.ByDay[day] = ds
	}
	for dev, a := range r.byDevice {
		st.ByDevice[dev] = DeviceStats{Sightings: a.sightings, Walks: len(a.walks), LastSeen: a.last}
		st.Sightings += a.sightings
	}
	st.Walks = len(r.walks)
	return st
}
